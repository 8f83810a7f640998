"""Binance's user-data stream keys: ``POST``, ``PUT``, ``DELETE /api/v3/userDataStream``,
with the API key alone in ``X-MBX-APIKEY`` (no signature, as on Binance); the stream
itself is ``/ws/<listenKey>`` (``api.binance.streams_hub``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import bottle

from api.client_address import client_address
from api.binance import streams_ws_api
from api.binance.errors import BinanceError
from api.binance.listen_keys import Owner
from api.binance.routing import BinanceRoutes, Request, answer_error
from api.binance.services import BinanceServices
from api.routing import Api

if TYPE_CHECKING:
    from api.binance.streams_hub import BinanceStreams

LISTEN_KEY = {"type": "string", "pattern": "^[0-9a-f]{60}$"}
ANY = {"type": "object"}

routes = BinanceRoutes()


def _owner(request: Request) -> Owner:
    assert request.principal is not None and request.principal.api_key_id is not None
    return Owner(request.user_id, request.principal.api_key_id)


@routes.route("POST", "/api/v3/userDataStream", security="key", answer=ANY,
              summary="Binance: the API key's listen key (the same while it lives), alive "
                      "60 minutes")
def start(services: BinanceServices, request: Request) -> dict:
    return {"listenKey": services.listen_keys.create(_owner(request))}


@routes.route("PUT", "/api/v3/userDataStream", security="key", answer=ANY,
              summary="Binance: keep a listen key alive 60 minutes more",
              params={"listenKey": LISTEN_KEY})
def keep_alive(services: BinanceServices, request: Request) -> dict:
    services.listen_keys.keep_alive(_owner(request), request.params.text("listenKey") or "")
    return {}


@routes.route("DELETE", "/api/v3/userDataStream", security="key", answer=ANY,
              summary="Binance: close a listen key (its streams end)",
              params={"listenKey": LISTEN_KEY})
def close(services: BinanceServices, request: Request) -> dict:
    services.listen_keys.close(_owner(request), request.params.text("listenKey") or "")
    return {}


def install_sockets(app: bottle.Bottle, api: Api, streams: BinanceStreams) -> None:
    """The stream protocol's and the WebSocket API's paths; a plain HTTP request to one is
    told to upgrade, in Binance's error format."""

    def upgraded() -> Any:
        api.limiter.hit(api.settings.rate_limit_per_ip, "ip",
                        client_address(bottle.request.environ, api.settings.trusted_proxies))
        socket = bottle.request.environ.get("wsgi.websocket")
        if socket is None:
            raise BinanceError(400, -1000, "Connect with a WebSocket client "
                               "(Upgrade: websocket).")
        return socket

    def answered(serve: Callable[[], None]) -> str:
        try:
            serve()
            return ""
        except Exception as error:
            return answer_error(error, "websocket")

    def raw(names: str = "") -> str:
        return answered(lambda: streams.serve(upgraded(), bottle.request.environ,
                                              names.split("/"), False, []))

    def combined(names: str = "") -> str:
        listed = bottle.request.query.get("streams", "")
        return answered(lambda: streams.serve(upgraded(), bottle.request.environ,
                                              names.split("/"), True,
                                              [n for n in listed.split("/") if n]))

    def web_socket_api() -> str:
        return answered(lambda: streams_ws_api.serve(streams, upgraded(),
                                                     bottle.request.environ))

    for path, handler in (("/ws", raw), ("/ws/<names>", raw), ("/stream", combined),
                          ("/stream/<names>", combined), ("/ws-api/v3", web_socket_api)):
        app.route(path, "GET", handler, skip=["json_api"])
