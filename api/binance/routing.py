"""The face's routes: each declaration gives the Bottle route, its checks, its weight in
the rate limits and its OpenAPI entry (beside the native ones in ``/v1/openapi.json``).

In order, as on ``/v1`` (``api.routing``): the address's rate limit (before any database
lookup), the signature and the key, the scope, the caller's rate limit with the
signature's claim in the same Redis round trip; then the handler. Every error, native or
the face's own, is answered in Binance's format by ``answer_error``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import bottle

from api.auth import Principal, first_use
from api.binance import errors, signing
from api.binance.params import Params, parse, signed_payload
from api.client_address import client_address
from api import json_answers
from api.errors import ApiError, translate
from api.market_cache import EncodedJson
from api.routing import Api, Operation, body_bytes
from observability import logs, metrics

if TYPE_CHECKING:
    from api.binance.services import BinanceServices

log = logging.getLogger("api.binance")
# trade: placing and cancelling; read: the rest; key: the API key alone, unsigned (Binance's
# USER_STREAM endpoints, whose listen keys only read the key's own user's events)
SECURITY = ("public", "key", "read", "trade")


@dataclass(frozen=True)
class Request:
    """What a handler gets: the caller (None on public routes) and the parameters."""

    principal: Principal | None
    params: Params

    @property
    def user_id(self) -> int:
        assert self.principal is not None
        return self.principal.user_id


Handler = Callable[["BinanceServices", Request], Any]


class BinanceRoutes:
    def __init__(self) -> None:
        self.declared: list[tuple[str, str, str, str, dict[str, dict], dict | None,
                                  Handler]] = []

    def route(self, method: str, path: str, *, security: str, summary: str,
              params: dict[str, dict] | None = None, answer: dict | None = None
              ) -> Callable[[Handler], Handler]:
        assert security in SECURITY, security

        def declare(handler: Handler) -> Handler:
            self.declared.append((method, path, security, summary, params or {}, answer,
                                  handler))
            return handler
        return declare

    def register(self, api: Api, services: BinanceServices) -> None:
        for method, path, security, summary, params, answer, handler in self.declared:
            bound = functools.update_wrapper(functools.partial(handler, services), handler)
            api.app.route(path, method, _wrapped(services, security, bound, path),
                          skip=["json_api"])
            api.operations.append(Operation(
                method, path, summary, "binance", None if security == "public" else security,
                None, params, {200: ("the answer", answer)}, bound, face="binance"))


def _wrapped(services: BinanceServices, security: str, handler: Callable[[Request], Any],
             rule: str) -> Callable[[], str | bytes]:
    record = metrics.request_recorder(rule)

    def run() -> str | bytes:
        started = time.perf_counter()
        request_id = logs.new_request_id()
        logs.request_id.set(request_id)
        bottle.response.set_header("X-Request-Id", request_id)
        bottle.response.content_type = "application/json"
        try:
            result = handler(_checked(services, security))
            if isinstance(result, EncodedJson):     # a kept answer (api.market_cache)
                return result
            return json_answers.encoded(result)
        except Exception as error:
            return answer_error(error, request_id)
        finally:
            record(bottle.request.method, bottle.response.status_code,
                   time.perf_counter() - started)
    return run


def _checked(services: BinanceServices, security: str) -> Request:
    request = bottle.request
    settings, limiter = services.native.settings, services.native.limiter
    ip = client_address(request.environ, settings.trusted_proxies)
    address_limit = [(settings.rate_limit_per_ip, ("ip", ip))]
    query = request.environ.get("QUERY_STRING", "")
    if security == "public":
        limiter.admit(address_limit)
        return Request(None, parse(query, body_bytes(request)))
    key = signing.key_id(request.headers)
    limits = address_limit
    if not services.native.authenticator.key_in_memory(key):
        limiter.admit(limits)       # an address over its limit costs no database lookup
        limits = []
    body = body_bytes(request)
    try:
        params = parse(query, body)
        caller = services.native.authenticator.key_holder(key, ip) if security == "key" \
            else signing.principal(services.native.authenticator, key, params,
                                   *signed_payload(query, body), ip)
        if security == "key" and "read" not in caller.scopes:
            raise ApiError(403, "insufficient_scope", "this API key lacks the read scope")
        if security != "key" and security not in caller.scopes:
            raise ApiError(403, "insufficient_scope", f"this API key lacks the {security} "
                           "scope")
    except (ApiError, errors.BinanceError):
        limiter.admit(limits)       # a refused caller counts against its address
        raise
    limits.append((settings.rate_limit_per_user, ("caller", caller.identity)))
    claimed = limiter.admit(limits, caller.signature_claim)
    if caller.signature_claim is not None:   # an unsigned key has no signature to claim
        first_use(claimed)
    return Request(caller, params)


def answer_error(error: Exception, request_id: str) -> str:
    if not isinstance(error, errors.BinanceError):
        native = translate(error)
        if native is None:
            log.exception("request %s failed", request_id)
            native = ApiError(500, "internal_error",
                              f"internal error; quote request id {request_id}")
        error = errors.from_native(native)
    bottle.response.status = error.status
    bottle.response.content_type = "application/json"
    for name, value in error.headers.items():
        bottle.response.set_header(name, value)
    return json.dumps({"code": error.code, "msg": error.msg})
