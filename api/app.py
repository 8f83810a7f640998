"""The Bottle application: one JSON error format, request ids, CORS for the website."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Callable

import bottle
from sqlalchemy import Engine

from api.errors import ApiError, translate
from config import Settings

log = logging.getLogger("api")


class JsonApi:
    """A Bottle plugin: every route answers JSON, every error the one format, once."""

    name = "json_api"
    api = 2

    def __init__(self, settings: Settings) -> None:
        self.allowed_origin = settings.site_origin

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request_id = uuid.uuid4().hex
            bottle.response.set_header("X-Request-Id", request_id)
            self._cors_headers()
            try:
                result = callback(*args, **kwargs)
            except bottle.HTTPResponse:
                raise
            except Exception as error:  # translated once, here
                return self._error(error, request_id)
            if isinstance(result, (dict, list)):
                bottle.response.content_type = "application/json"
                return json.dumps(result, separators=(",", ":"))
            return result
        return wrapper

    def _cors_headers(self) -> None:
        if bottle.request.headers.get("Origin") == self.allowed_origin:
            bottle.response.set_header("Access-Control-Allow-Origin", self.allowed_origin)
            bottle.response.set_header("Vary", "Origin")

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


def create_app(settings: Settings, engine: Engine) -> bottle.Bottle:
    from api import routes_public

    app = bottle.Bottle(autojson=False, catchall=True)
    app.install(JsonApi(settings))
    for status, code, message in (
        (404, "not_found", "no such path; see /v1/openapi.json"),
        (405, "method_not_allowed", "this path does not take that method"),
        (500, "internal_error", "internal error"),
    ):
        app.error(status)(_static_error(status, code, message))
    routes_public.register(app, engine)
    return app


def _static_error(status: int, code: str, message: str) -> Callable[[Any], str]:
    def handler(_: Any) -> str:
        return error_response(ApiError(status, code, message))
    return handler
