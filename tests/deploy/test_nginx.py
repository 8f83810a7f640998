"""The exchange behind Debian's nginx, configured from deploy/nginx, over HTTPS and WSS:
two web processes behind it, the client's real address believed only through it."""

from __future__ import annotations

import ssl
import time

import pytest
import redis
import requests
import websocket

import config
from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD, api_key, new_email
from tests.api.test_ws import receive, send
from deploy.nginx.standalone import Nginx
from tests.deploy.edge import from_address
from tests.processes import Process, free_port, wait_for_http
from tests.site.conftest import browser, market, new_page  # noqa: F401 (fixtures)
from tests.site.test_browser import test_two_people_trade_and_both_see_it_without_reloading \
    as test_the_website_trades_over_https  # noqa: F401 (run here, through nginx)
from tests.trading import create_market

WEB_PROCESSES = 2


@pytest.fixture(scope="module")
def edge(settings, tmp_path_factory):
    """Two web processes (trusting 127.0.0.1, where nginx connects from), a matcher, the
    scheduler, and nginx in front on free ports."""
    logs = tmp_path_factory.mktemp("edge-processes")
    https_port, http_port = free_port(), free_port()
    public_url = f"https://127.0.0.1:{https_port}"
    ports = [free_port() for _ in range(WEB_PROCESSES)]
    webs = [Process("web", logs, PORT=str(port), TRUSTED_PROXIES="127.0.0.1",
                    SITE_ORIGIN=public_url, API_PUBLIC_URL=public_url, DEMO_MODE="true",
                    RATE_LIMIT_PER_IP="100000/minute", RATE_LIMIT_PER_USER="100000/minute")
            for port in ports]
    others = [Process("matcher", logs), Process("scheduler", logs, DEMO_MODE="false")]
    for web, port in zip(webs, ports):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", web)
    nginx = Nginx(tmp_path_factory.mktemp("nginx"), [f"127.0.0.1:{p}" for p in ports],
                  http_port, https_port, config.PROJECT_DIR / "site" / "static",
                  edge_rate="2000r/s", edge_burst=2000, worker_processes="1")
    nginx.webs = webs  # type: ignore[attr-defined]
    yield nginx
    assert nginx.stop() == 0, nginx.errors()
    for process in webs + others:
        if process.process.poll() is None:          # (one web the last test killed)
            assert process.stop() == 0, process.output()[-3000:]


@pytest.fixture(scope="module")
def exchange(edge):
    """What tests/site's fixtures take: the website's origin and the API's, here one."""
    return edge.public_url, edge.public_url


def person(edge: Nginx, address: str) -> Client:
    """A new user, signed up and logged in through nginx from ``address``."""
    client = Client(edge.public_url)
    from_address(client.http, address, edge.certificate)
    email = new_email()
    assert client.post("/v1/users", {"email": email, "password": PASSWORD}).status_code == 201
    client.token = client.post("/v1/sessions", {"email": email, "password": PASSWORD}
                               ).json()["token"]
    return client


def balance(client: Client, currency: str) -> tuple[str, str]:
    items = client.get("/v1/balances").json()["items"]
    return next((b["available"], b["held"]) for b in items if b["currency"] == currency)


def filled(client: Client, order_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (order := client.get(f"/v1/orders/{order_id}").json())["status"] != "filled":
        assert time.monotonic() < deadline, order
        time.sleep(0.05)
    return order


def test_plain_http_is_sent_to_https_with_hsts_and_the_metrics_stay_inside(edge):
    moved = requests.get(edge.http_url + "/v1/markets?x=1", allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["Location"]) == (
        301, edge.public_url + "/v1/markets?x=1")
    answer = requests.get(edge.public_url + "/readyz", verify=str(edge.certificate), timeout=10)
    assert answer.json() == {"status": "ready"}
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    assert requests.get(edge.public_url + "/metrics", verify=str(edge.certificate),
                        timeout=10).status_code == 404


def test_nginx_serves_the_website_itself_with_the_api_on_the_same_origin(edge):
    page = requests.get(edge.public_url + "/", verify=str(edge.certificate), timeout=10)
    assert page.status_code == 200 and '<script src="/config.js">' in page.text
    assert page.headers["Server"] == "nginx"                      # not the site process
    assert "connect-src 'self' " + edge.public_url in page.headers["Content-Security-Policy"]
    script = requests.get(edge.public_url + "/config.js", verify=str(edge.certificate),
                          timeout=10)
    assert script.text == f"window.EXCHANGE_API = '{edge.public_url}';\n"
    assert script.headers["Content-Type"] == "text/javascript"


def test_nginx_refuses_a_body_larger_than_the_api_accepts(edge):
    response = requests.post(edge.public_url + "/v1/users", data=b"x" * (65 * 1024),
                             verify=str(edge.certificate), timeout=10)
    assert response.status_code == 413


def test_people_trade_through_nginx_to_the_exact_unit_and_see_it_over_wss(
        edge, admin_engine, settings):
    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    base, quote = market.split("-")
    seller, buyer = person(edge, "127.0.0.2"), person(edge, "127.0.0.3")
    assert seller.post("/v1/faucet", {"currency": base, "amount": "2"}).status_code == 201
    assert buyer.post("/v1/faucet", {"currency": quote, "amount": "1000"}).status_code == 201
    socket = websocket.create_connection(
        edge.public_url.replace("https", "wss", 1) + "/v1/ws", timeout=10,
        sslopt={"ca_certs": str(edge.certificate), "cert_reqs": ssl.CERT_REQUIRED})
    send(socket, op="subscribe", channels=[f"trades:{market}"])
    receive(socket, "subscribed")
    sell = seller.post("/v1/orders", {"market": market, "side": "sell", "type": "limit",
                                      "quantity": "1.5", "price": "100.00"})
    assert sell.status_code == 202, sell.text
    buy = buyer.post("/v1/orders", {"market": market, "side": "buy", "type": "market",
                                    "quantity": "1"})
    assert buy.status_code == 202, buy.text
    trades = receive(socket, "trades")
    socket.close()
    # (The feed writes amounts without trailing zeros; REST with the currency's scale.)
    assert [(t["price"], t["quantity"]) for t in trades["trades"]] == [("100", "1")]
    filled(buyer, buy.json()["id"])
    assert balance(buyer, base) == ("1.00000000", "0.00000000")
    assert balance(buyer, quote) == ("899.80", "0.00")          # 100.00 + 0.20 taker fee
    assert balance(seller, quote) == ("99.90", "0.00")          # 100.00 - 0.10 maker fee
    assert balance(seller, base) == ("0.50000000", "0.50000000")
    # Each web process counted the people by their own addresses, not by nginx's.
    keys = redis.Redis.from_url(settings.redis_url).keys("*ip/127.0.0.[23]/*")
    assert {key.decode().split("ip/")[1].split("/")[0] for key in keys} == {
        "127.0.0.2", "127.0.0.3"}


def test_an_allow_list_sees_the_address_nginx_was_reached_from_not_a_forged_one(edge):
    owner = person(edge, "127.0.0.2")
    key = api_key(owner, ["read"], ip_allowlist=["127.0.0.4"])
    for address, forged, allowed in (("127.0.0.4", "198.51.100.7", True),
                                     ("127.0.0.5", "127.0.0.4", False)):
        key.base_url = edge.public_url
        from_address(key.http, address, edge.certificate)
        response = key.get("/v1/balances", headers={"X-Forwarded-For": forged,
                                                     "X-Real-IP": forged})
        assert (response.status_code == 200) is allowed, response.text
        if not allowed:
            assert error_of(response)[:2] == (403, "ip_not_allowed")


def test_killing_one_web_process_loses_no_request(edge):
    """Last here: one web process is gone afterwards."""
    client = person(edge, "127.0.0.6")
    edge.webs[0].kill()
    answers = [client.get("/v1/balances").status_code for _ in range(40)]
    answers += [client.post("/v1/faucet", {"currency": "NOPE", "amount": "1"}).status_code
                for _ in range(10)]
    assert answers == [200] * 40 + [404] * 10
