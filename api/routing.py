"""Declared routes: one declaration gives the Bottle route, its checks and its OpenAPI entry.

Each operation states its authentication, its body's JSON Schema, its query
parameters and its responses. The wrapper applies them in order: rate limit by
address, authentication, scope, rate limit by caller, body and query validation;
only then does the handler run. The OpenAPI document is built from the same
declarations, so it cannot drift from what the server does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import bottle
import jsonschema
import jsonschema_rs
from jsonschema import Draft202012Validator

from api.auth import Authenticator, Principal, first_use
from api.client_address import client_address
from api.errors import ApiError
from api.jsonbody import BODY_BYTES_MAX, decode_object
from api.ratelimit import RateLimiter
from config import Settings

if TYPE_CHECKING:
    from api.services import Services

AUTH_LEVELS = (None, "session", "read", "trade", "withdraw")
_PARAMETER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Call:
    """What a handler gets: the caller, the validated body and query, path parameters."""

    principal: Principal | None
    body: dict[str, Any]
    query: dict[str, Any]
    path: dict[str, str]
    ip: str
    headers: Any

    @property
    def user_id(self) -> int:
        assert self.principal is not None  # the route declared authentication
        return self.principal.user_id


@dataclass
class Operation:
    method: str
    path: str                      # OpenAPI style: /v1/api-keys/{key_id}
    summary: str
    tag: str
    auth: str | None
    body: dict | None
    query: dict[str, dict]
    responses: dict[int, tuple[str, dict | None]]
    handler: Callable[[Call], Any] = field(repr=False)
    body_validator: Validator | None = None
    query_validator: Validator | None = None
    face: str = "native"           # or "binance": /api/v3, documented with its own errors
    counted: bool = True           # False only for the health probes (public, no Redis)


class Validator:
    """A JSON Schema (draft 2020-12), checked by the compiled ``jsonschema_rs`` (a tenth of
    the cost), and explained by ``jsonschema``, whose errors name the field, only when that
    finds fault. ``tests/api/test_validation.py`` holds the two to the same verdicts."""

    def __init__(self, schema: dict) -> None:
        self.explaining = Draft202012Validator(schema)
        self.compiled = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)

    def raise_first_error(self, value: Any, where: str) -> None:
        try:
            if self.compiled.is_valid(value):
                return
        except ValueError:
            pass        # a value it cannot read (a non-integer JsonNumber): explained below
        _raise_first_error(self.explaining, value, where)


class Api:
    def __init__(self, app: bottle.Bottle, settings: Settings, authenticator: Authenticator,
                 limiter: RateLimiter) -> None:
        self.app, self.settings = app, settings
        self.authenticator, self.limiter = authenticator, limiter
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, tag: str, auth: str | None = None,
              body: dict | None = None, query: dict[str, dict] | None = None,
              responses: dict[int, tuple[str, dict | None]], counted: bool = True) -> Callable:
        """``counted=False``: not counted against any rate limit, for the health probes,
        which must answer while Redis (where limits are counted) is away."""
        assert auth in AUTH_LEVELS, auth
        assert counted or auth is None, "every authenticated call is counted"

        def declare(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
            query_schema = {"type": "object", "properties": query or {},
                            "additionalProperties": True}
            operation = Operation(
                method, path, summary, tag, auth, body, query or {}, responses, handler,
                Validator(body) if body else None, Validator(query_schema), counted=counted)
            self.operations.append(operation)
            bottle_path = _PARAMETER.sub(r"<\1>", path)
            self.app.route(bottle_path, method, self._wrapped(operation))
            return handler
        return declare

    def _wrapped(self, operation: Operation) -> Callable[..., Any]:
        def run(**path: str) -> Any:
            request = bottle.request
            ip = client_address(request.environ, self.settings.trusted_proxies)
            limits = [(self.settings.rate_limit_per_ip, ("ip", ip))]
            # The address's limit first whenever authenticating would read the database
            # (a session or key not in memory): an address over its limit costs no lookup.
            # A session or key in memory (``api.credential_cache``) has both limits, and a
            # signature its claim, counted in one round trip.
            if not operation.counted:
                limits = []
            elif operation.auth is None or not self.authenticator.in_memory(request):
                self.limiter.admit(limits)
                limits = []
            raw = body_bytes(request)
            try:
                # Public operations ignore credentials: a stale token never blocks them.
                principal = None if operation.auth is None else \
                    self.authenticator.principal(request, raw)
                _authorize(operation, principal)
            except Exception:
                # A refused caller counts against its address (a remembered refusal too:
                # an ended session's token is refused from memory, not the database).
                self.limiter.admit(limits)
                raise
            if principal is not None:
                limits.append((self.settings.rate_limit_per_user, ("caller", principal.identity)))
                claim = principal.signature_claim
                claimed = self.limiter.admit(limits, claim)
                if claim is not None:
                    first_use(claimed)
            call = Call(principal, _validated_body(operation, raw),
                        _validated_query(operation, request.query), path, ip, request.headers)
            result = operation.handler(call)
            status = min(operation.responses)
            bottle.response.status = status
            return "" if status == 204 else result
        run.__name__ = operation.handler.__name__
        return run


Handler = Callable[["Services", Call], Any]


class Routes:
    """A module's operations, declared beside their handlers at import (so each handler is
    a function that a test can call alone); ``register`` binds each handler to the
    process's ``Services`` and declares it on an ``Api``, in declaration order."""

    def __init__(self) -> None:
        self.declared: list[tuple[str, str, dict[str, Any], Handler]] = []

    def route(self, method: str, path: str, **declaration: Any) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.declared.append((method, path, declaration, handler))
            return handler
        return declare

    def register(self, api: Api, services: Services) -> None:
        for method, path, declaration, handler in self.declared:
            bound = functools.update_wrapper(functools.partial(handler, services), handler)
            api.route(method, path, **declaration)(bound)


def body_bytes(request: bottle.BaseRequest) -> bytes:
    length = request.content_length
    if length > BODY_BYTES_MAX:
        raise ApiError(413, "body_too_large", f"the request body exceeds {BODY_BYTES_MAX} bytes")
    # No Content-Length is -1: a body only if chunked (reading none cost a tenth of a GET).
    if length > 0 or (length < 0 and request.chunked):
        return request.body.read(BODY_BYTES_MAX + 1)
    return b""


def _authorize(operation: Operation, principal: Principal | None) -> None:
    if operation.auth is None:
        return
    if principal is None:
        raise ApiError(401, "authentication_required",
                       "log in (Authorization: Bearer <token>) or sign the request with an "
                       "API key")
    if operation.auth == "session":
        if principal.session_id is None:
            raise ApiError(403, "session_required",
                           "this works only from a logged-in website session, not an API key")
    elif operation.auth not in principal.scopes:
        raise ApiError(403, "insufficient_scope",
                       f"this API key lacks the {operation.auth} scope")


def _validated_body(operation: Operation, raw: bytes) -> dict[str, Any]:
    if operation.body_validator is None:
        return {}
    body = decode_object(raw)
    operation.body_validator.raise_first_error(body, "body")
    return body


def _validated_query(operation: Operation, query: bottle.FormsDict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not operation.query:       # undeclared parameters are ignored
        return values
    for name, schema in operation.query.items():
        if name in query:
            text = query.get(name)
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]{1,12}", text):
                    raise ApiError(400, "invalid_request", f"{name} must be an integer", name)
                values[name] = int(text)
            else:
                values[name] = text
        elif "default" in schema:
            values[name] = schema["default"]
    assert operation.query_validator is not None
    operation.query_validator.raise_first_error(values, "query")
    return values


def _raise_first_error(validator: Draft202012Validator, value: Any, where: str) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1]
        raise ApiError(400, "invalid_request", f"{missing} is required", ".".join(path + [missing]))
    if error.validator == "additionalProperties":
        raise ApiError(400, "invalid_request",
                       f"unknown field in the {where}: {error.message}; remove it",
                       ".".join(path) or None)
    name = ".".join(path) or None
    if isinstance(error.schema, dict) and error.schema.get("x-amount"):
        raise ApiError(400, "invalid_amount",
                       f"{name} must be a decimal string such as \"1.5\" (a JSON number, NaN "
                       "or an exponent is refused)", name)
    raise ApiError(400, "invalid_request", f"{name or where}: {error.message}", name)
