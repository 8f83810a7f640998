"""The Bottle application: declared routes, one JSON error format, request ids, CORS."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import replace
from typing import Any, Callable

import bottle
import prometheus_client
import redis
from sqlalchemy import Engine

from api import (
    openapi, routes_access, routes_account, routes_custody, routes_market_data, routes_public,
    routes_trading,
)
from api.auth import Authenticator
from api.client_address import client_address
from api.binance import routes_account as binance_account
from api.binance import routes_market as binance_market
from api.binance import routes_orders as binance_orders
from api.binance import routes_streams as binance_streams
from api.binance.listen_keys import ListenKeys
from api.binance.streams_hub import BinanceStreams
from api.binance.services import BinanceServices
from api.binance.symbols import Symbols
from api.order_waits import OrderWaits
from api.errors import ApiError, translate
from api import json_answers
from trading.batches import OrderBatcher
from api.ratelimit import REDIS_TIMEOUTS, RateLimiter
from api.routing import Api
from api.services import Services
from api.ws import Hub
from config import Settings
from events import publishing
from trading.placing import Placement
from observability import logs, metrics

log = logging.getLogger("api")
CORS_MAX_AGE_SECONDS = 600
CORS_HEADERS = "Authorization, Content-Type, X-API-Key, X-API-Timestamp, X-API-Signature, " \
               "Idempotency-Key"


class JsonApi:
    """A Bottle plugin: every route answers JSON, every error the one format, once."""

    name = "json_api"
    api = 2

    def __init__(self, settings: Settings) -> None:
        self.allowed_origin = settings.site_origin

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        record = metrics.request_recorder(route.rule)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return answer(*args, **kwargs)
            finally:
                record(bottle.request.method, bottle.response.status_code,
                       time.perf_counter() - started)

        def answer(*args: Any, **kwargs: Any) -> Any:
            request_id = logs.new_request_id()
            logs.request_id.set(request_id)
            bottle.response.set_header("X-Request-Id", request_id)
            if bottle.request.headers.get("Origin") == self.allowed_origin:
                bottle.response.set_header("Access-Control-Allow-Origin", self.allowed_origin)
                bottle.response.set_header("Access-Control-Expose-Headers",
                                           "X-Request-Id, Retry-After")
                bottle.response.set_header("Vary", "Origin")
            try:
                result = callback(*args, **kwargs)
                if isinstance(result, (dict, list)):
                    bottle.response.content_type = "application/json"
                    return json_answers.encoded(result)
            except bottle.HTTPResponse:
                raise
            except Exception as error:  # translated once, here
                return self._error(error, request_id)
            return result
        return wrapper

    @staticmethod
    def _error(error: Exception, request_id: str) -> str:
        api_error = translate(error)
        if api_error is None:
            log.exception("request %s failed", request_id)
            api_error = ApiError(500, "internal_error",
                                 f"internal error; quote request id {request_id}")
        return error_response(api_error)


def error_response(error: ApiError) -> str:
    bottle.response.status = error.status
    bottle.response.content_type = "application/json"
    for name, value in error.headers.items():
        bottle.response.set_header(name, value)
    return json.dumps({"error": {"code": error.code, "message": error.message,
                                 "field": error.field}})


def create_app(settings: Settings, engine: Engine, autocommit: Engine | None = None,
               market_data: Engine | None = None, reader: Engine | None = None,
               follow_feed: bool = False) -> tuple[bottle.Bottle, Api]:
    """``autocommit`` (``db.engine.create(autocommit=True)``, else ``engine``) serves the
    order writers. ``market_data`` (a streaming replica's, else ``engine``) serves the
    public market-data routes of both faces, which may read a little behind the primary.
    ``reader`` (the primary's, in autocommit mode; else ``autocommit``) serves the session
    and API-key lookups and the private reads that bots poll (balances, orders), which must
    show the caller's own last acknowledged write: never a replica. ``follow_feed``: the
    feed is followed from the start (in a gevent process), not from the first socket, so
    that each market's kept public answers are dropped when its batch is announced."""
    autocommit = autocommit or engine
    reader = reader or autocommit
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # JsonApi serialises; Decimal must never slip through
    app.install(JsonApi(settings))
    redis_client = redis.Redis.from_url(settings.redis_url, **REDIS_TIMEOUTS)
    limiter = RateLimiter(settings.redis_url)
    api = Api(app, settings, Authenticator(settings, reader, redis_client), limiter)
    services = _services(api, engine, autocommit, reader)
    public_reads = services if market_data is None else replace(services, engine=market_data)
    for module in (routes_public, routes_market_data, routes_access, routes_account,
                   routes_trading, routes_custody):
        module.routes.register(api, public_reads if module is routes_market_data else services)
    order_waits = OrderWaits()
    hub = _install_metrics_and_socket(app, api, engine, order_waits)
    for answers in (routes_market_data.ANSWERS, binance_market.ANSWERS):
        answers.seconds = settings.market_data_staleness_ms / 1000
    hub.market_changed += [routes_market_data.ANSWERS.forget, binance_market.forget]
    binance = BinanceServices(services, Symbols(engine), order_waits, hub.start,
                              ListenKeys(redis_client))
    for face in (binance_market, binance_orders, binance_account, binance_streams):
        face.routes.register(api, replace(binance, native=public_reads)
                             if face is binance_market else binance)
    binance_streams.install_sockets(app, api, BinanceStreams(hub, binance, binance.listen_keys))
    if follow_feed:
        hub.start()
    spec = openapi.document(api)
    docs = openapi.docs_page(api)
    app.route("/v1/openapi.json", "GET", lambda: spec)
    app.route("/v1/docs", "GET", lambda: docs)
    _install_preflight_and_errors(app, settings)
    return app, api


def _services(api: Api, engine: Engine, autocommit: Engine, reader: Engine) -> Services:
    send = api.limiter.coalesced.send

    def announce(placements: list[Placement]) -> None:
        orders = [(p.user_id, p.order) for p in placements if p.order is not None]
        for market, number in Counter(order["market"] for _, order in orders).items():
            metrics.ORDERS_ACCEPTED.labels(market).inc(number)
        publishing.announce_orders(orders, send)

    batcher = OrderBatcher(autocommit, announce, api.settings.order_writers)
    return Services(engine, api.settings, api.limiter, api.authenticator, batcher,
                    after_commit(lambda market: publishing.wake(market, send)),
                    after_commit(publishing.enqueue_withdrawal),
                    after_commit(lambda changes: publishing.publish_balances(changes, send)),
                    reader)


def after_commit(notify: Callable[..., None]) -> Callable[..., None]:
    """``notify`` for a change already committed: if Redis is away, the request still
    succeeds (it did), and the scheduler's sweep (matchers) or withdrawal follow-up
    (workers) finds the work within seconds."""
    def best_effort(*args: Any) -> None:
        try:
            notify(*args)
        except redis.RedisError as error:
            log.warning("could not notify %s%r, left to the scheduler: %s",
                        getattr(notify, "__name__", "notify"), args, error)
    return best_effort


def _install_metrics_and_socket(app: bottle.Bottle, api: Api, engine: Engine,
                                order_waits: OrderWaits) -> Hub:
    @app.route("/metrics", "GET")
    def prometheus_metrics() -> bytes:
        """This process's metrics, for Prometheus (not part of the public API)."""
        bottle.response.content_type = prometheus_client.CONTENT_TYPE_LATEST
        return prometheus_client.generate_latest()

    hub = Hub(api.settings, engine, api.authenticator, api.limiter, order_waits)

    @app.route("/v1/ws", "GET")
    def websocket() -> str:
        socket = bottle.request.environ.get("wsgi.websocket")
        api.limiter.hit(api.settings.rate_limit_per_ip, "ip",
                        client_address(bottle.request.environ, api.settings.trusted_proxies))
        if socket is None:
            raise ApiError(400, "websocket_required",
                           "connect with a WebSocket client (Upgrade: websocket)")
        hub.serve(socket, bottle.request.environ)
        return ""
    return hub


def _install_preflight_and_errors(app: bottle.Bottle, settings: Settings) -> None:
    def preflight(**path: str) -> str:
        # Only the website's origin gets the CORS headers (set by JsonApi); others get none.
        bottle.response.status = 204
        if bottle.request.headers.get("Origin") == settings.site_origin:
            bottle.response.set_header("Access-Control-Allow-Methods",
                                       "GET, POST, DELETE, OPTIONS")
            bottle.response.set_header("Access-Control-Allow-Headers", CORS_HEADERS)
            bottle.response.set_header("Access-Control-Max-Age", str(CORS_MAX_AGE_SECONDS))
        return ""

    for rule in {route.rule for route in app.routes}:
        app.route(rule, "OPTIONS", preflight)

    for status, code, message in (
        (404, "not_found", "no such path; see /v1/openapi.json"),
        (405, "method_not_allowed", "this path does not take that method"),
        (500, "internal_error", "internal error"),
    ):
        app.error(status)(_static_error(status, code, message))


def _static_error(status: int, code: str, message: str) -> Callable[[Any], str]:
    def handler(_: Any) -> str:
        return error_response(ApiError(status, code, message))
    return handler
