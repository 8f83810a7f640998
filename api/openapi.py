"""The OpenAPI 3.1 document and a readable docs page, built from the declared routes."""

from __future__ import annotations

import html
import re

from api.routing import Api, Operation
from api.schemas import ERROR

# The Binance-compatible face answers its errors as {"code": -NNNN, "msg": "..."}.
BINANCE_ERRORS = {400: "refused: see code and msg", 401: "not authenticated",
                  403: "not allowed", 404: "no such path", 405: "method not allowed",
                  413: "body too large", 429: "rate limited (Retry-After)",
                  500: "internal error", 503: "PostgreSQL or Redis did not answer (Retry-After)"}
BINANCE_ERROR = {"type": "object", "required": ["code", "msg"], "additionalProperties": False,
                 "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}}}
# Every operation may answer these; each has the one error body.
COMMON_ERRORS = {400: "invalid input", 413: "body too large", 429: "rate limited",
                 503: "PostgreSQL or Redis did not answer (Retry-After)"}
AUTH_ERRORS = {401: "not authenticated", 403: "not allowed"}


BINANCE_SOCKETS = {   # api.binance.streams_hub, api.binance.streams_ws_api
    "/ws": "Binance: a raw stream connection, streams added by SUBSCRIBE",
    "/ws/{names}": "Binance: a raw stream (btcusdt@trade), a listen key's user data, or a "
                   "client's numbered connection",
    "/stream": "Binance: combined streams (?streams=a/b), each frame in {stream, data}",
    "/stream/{names}": "Binance: a client's numbered combined connection",
    "/ws-api/v3": "Binance's WebSocket API: userDataStream.subscribe.signature, ping, time",
}


def document(api: Api) -> dict:
    paths: dict[str, dict] = {}
    for operation in api.operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    paths["/v1/ws"] = {"get": {
        "summary": "the WebSocket feed: see the description of api/ws.py in the README",
        "operationId": "websocket", "tags": ["market data"], "security": [],
        "responses": {
            "101": {"description": "switching to the WebSocket protocol"},
            "400": {"description": "not a WebSocket request", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "429": {"description": "rate limited", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        }}}
    for path, summary in BINANCE_SOCKETS.items():
        paths[path] = {"get": {
            "summary": summary, "operationId": "binance_socket_" + path.strip("/").replace(
                "/", "_").replace("{", "").replace("}", "").replace("-", "_"),
            "tags": ["binance"], "security": [],
            "parameters": [{"name": "names", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 64}}]
            if "{names}" in path else [],
            "responses": {"101": {"description": "switching to the WebSocket protocol"},
                          "400": {"description": "not a WebSocket request", "content": {
                              "application/json": {"schema": {
                                  "$ref": "#/components/schemas/BinanceError"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Exchange API", "version": "1",
                 "description": "Amounts, prices and quantities are decimal strings. Errors "
                                "are {\"error\": {\"code\", \"message\", \"field\"}}."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, "BinanceError": BINANCE_ERROR},
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer",
                            "description": "a token from POST /v1/sessions"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "with X-API-Timestamp (unix ms) and X-API-Signature: "
                                          "hex HMAC-SHA256(secret, timestamp + METHOD + "
                                          "path_with_query + body)"},
                "binanceKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY",
                               "description": "Binance's SIGNED scheme: timestamp (unix ms) "
                                              "and recvWindow parameters, and signature = "
                                              "hex HMAC-SHA256(secret, raw query string + raw "
                                              "body) as the last parameter"},
            },
        },
    }


def _operation(operation: Operation) -> dict:
    if operation.face == "binance":
        return _binance_operation(operation)
    responses: dict[str, dict] = {}
    for status, (description, schema) in operation.responses.items():
        if schema is None and status >= 400:
            schema = {"$ref": "#/components/schemas/Error"}
        responses[str(status)] = {"description": description} if schema is None else {
            "description": description, "content": {"application/json": {"schema": schema}}}
    errors = dict(COMMON_ERRORS)
    if operation.auth is not None or operation.method != "GET":
        errors.update(AUTH_ERRORS)
    for status, description in errors.items():
        responses.setdefault(str(status), {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string",
                                                                             "maxLength": 64}}
                  for name in re.findall(r"\{([a-z_]+)\}", operation.path)]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in operation.query.items()]
    entry: dict = {"summary": operation.summary, "operationId": operation.handler.__name__,
                   "tags": [operation.tag], "responses": responses}
    if parameters:
        entry["parameters"] = parameters
    if operation.body is not None:
        entry["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.body}}}
    if operation.auth is None:
        entry["security"] = []
    elif operation.auth == "session":
        entry["security"] = [{"session": []}]
    else:
        entry["security"] = [{"session": []}, {"apiKey": []}]
        entry["x-scope"] = operation.auth
    return entry


def _binance_operation(operation: Operation) -> dict:
    """An operation of the Binance-compatible face: Binance's parameters (from the query or
    a form body), its signing, its error body."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/BinanceError"}}}
    description, schema = operation.responses[200]
    responses = {"200": {"description": description,
                         "content": {"application/json": {"schema": schema or {}}}}}
    for status, what in BINANCE_ERRORS.items():
        responses[str(status)] = {"description": what, "content": error}
    entry: dict = {"summary": operation.summary, "operationId": "binance_" +
                   operation.handler.__name__, "tags": ["binance"], "responses": responses,
                   "parameters": [{"name": name, "in": "query", "required": False,
                                   "schema": schema} for name, schema in operation.query.items()]}
    if operation.auth is None:
        entry["security"] = []
    else:
        entry["security"] = [{"binanceKey": []}]
        entry["x-scope"] = operation.auth
        entry["parameters"] += [] if operation.auth == "key" else [{"name": name, "in": "query", "required": False,
                                 "schema": {"type": "string"}}
                                for name in ("timestamp", "recvWindow", "signature")]
    return entry


BINANCE_HOWTO = (
    "<h2>Binance-compatible API</h2><p>The same exchange answers Binance's Spot REST API "
    "under <code>/api/v3</code> (parameters in the query or a form body, Binance's signing "
    "with <code>X-MBX-APIKEY</code>, errors as <code>{\"code\": -NNNN, \"msg\"}</code>), "
    "with the same API keys. Point ccxt at it with <code>urls.api.public</code> and "
    "<code>urls.api.private</code> set to this host's <code>/api/v3</code> and the options "
    "<code>fetchMarkets: {types: [spot]}</code>, <code>fetchCurrencies: false</code>, "
    "<code>fetchMargins: false</code>; python-binance with <code>API_URL</code> set to this "
    "host's <code>/api</code>. The README's \"Use your bot\" section has the snippets.</p>")


def docs_page(api: Api) -> str:
    rows = []
    for op in api.operations:
        fields = ", ".join(sorted((op.body or {}).get("properties", {}) if op.face == "native"
                                  else op.query))
        auth = {None: "public", "session": "website session"}.get(op.auth, f"scope {op.auth}")
        if op.face == "binance" and op.auth is not None:
            auth = f"signed (Binance), scope {op.auth}"
        rows.append(f"<tr><td><code>{op.method}</code></td><td><code>{html.escape(op.path)}"
                    f"</code></td><td>{html.escape(op.summary)}</td><td>{auth}</td>"
                    f"<td>{html.escape(fields)}</td></tr>")
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>Exchange API</title>"
            "<style>body{font-family:system-ui;margin:2rem}td,th{padding:.3rem .6rem;"
            "border-bottom:1px solid #ddd;text-align:left}</style><h1>Exchange API</h1>"
            "<p>The full reference is <a href=/v1/openapi.json>/v1/openapi.json</a> (OpenAPI "
            "3.1). Amounts are decimal strings; errors are <code>{\"error\": {\"code\", "
            "\"message\", \"field\"}}</code>.</p>" + BINANCE_HOWTO + "<table><tr><th>method</th><th>path</th>"
            "<th>what</th><th>who</th><th>body fields</th></tr>" + "".join(rows) + "</table>")
