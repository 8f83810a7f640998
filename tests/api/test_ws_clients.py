"""Python's WebSocket clients are served with their default headers; a page of another
origin is still refused."""

import json

import pytest
import websocket

from api.ws_limits import origin_allowed
from tests.api.test_ws import receive, send
from tests.trading import create_market

SITE = "http://127.0.0.1:8080"
API = "http://127.0.0.1:8000"


def ws_url(base_url):
    return base_url.replace("http", "ws", 1) + "/v1/ws"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_websocket_client_with_its_default_origin_is_served(api_url, admin_engine, host):
    """websocket-client sends ``Origin: http://HOST:PORT``, the API's own origin."""
    market = create_market(admin_engine)
    socket = websocket.create_connection(ws_url(api_url).replace("127.0.0.1", host), timeout=10)
    send(socket, op="subscribe", channels=[f"book:{market}"])
    assert receive(socket, "snapshot")["channel"] == f"book:{market}"
    socket.close()


def test_the_websockets_library_with_its_defaults_is_served(api_url, admin_engine):
    sync_client = pytest.importorskip("websockets.sync.client")
    market = create_market(admin_engine)
    with sync_client.connect(ws_url(api_url), open_timeout=10) as socket:
        socket.send(json.dumps({"op": "subscribe", "channels": [f"trades:{market}"]}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "subscribed",
                                                       "channel": f"trades:{market}"}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://evil.example:{port}",
                                    "http://127.0.0.1.evil.example:{port}"])
def test_a_page_of_another_origin_is_refused_on_the_apis_own_port(api_url, origin):
    port = api_url.rsplit(":", 1)[1]
    socket = websocket.create_connection(ws_url(api_url), timeout=10,
                                         origin=origin.format(port=port))
    assert receive(socket, "error")["code"] == "origin_not_allowed"
    socket.close()


@pytest.mark.parametrize("origin, host, allowed", [
    (None, "api.example.com", True),                                  # a bot: no Origin
    (SITE, "127.0.0.1:8000", True),                                   # the website
    (API, "127.0.0.1:8000", True),                                    # the API's own
    ("http://127.0.0.1:8000", None, True),                            # API_PUBLIC_URL
    ("https://api.example.com", "api.example.com", True),            # behind TLS
    ("https://API.example.com:443", "api.example.com", True),        # default port spelt
    ("http://localhost:8000", "localhost:8000", True),               # the Host it reached
    ("https://evil.example", "api.example.com", False),
    ("https://api.example.com.evil.example", "api.example.com", False),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),              # another port
    ("null", "api.example.com", False),                               # a sandboxed page
    ("not a url", "api.example.com", False),
    ("https://api.example.com", "api.example.com:8443", False),
])
def test_an_origin_is_allowed_only_when_it_is_the_api_or_the_website(origin, host, allowed):
    assert origin_allowed(origin, host, (SITE, API)) is allowed
