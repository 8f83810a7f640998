"""A small JSON-RPC client for nodes: timeouts on every call, numbers as Decimal.

Transport failures become ``TemporaryNodeError`` (retry later); an error the node
answers with becomes ``NodeError`` carrying the node's code, so that drivers can
tell "unknown transaction" from "insufficient funds".
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import requests

from currencies.errors import NodeError, TemporaryNodeError

CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 30


class RpcError(NodeError):
    """The node answered a call with an error object."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: node error {code}: {message}")
        self.code = code
        self.message = message


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")       # amounts travel as exact decimal strings
    raise TypeError(f"cannot send {type(value).__name__} to a node")


class JsonRpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self._session = requests.Session()

    def call(self, method: str, *params: Any) -> Any:
        (answer,) = self._post([(method, params)])
        return answer

    def batch(self, calls: list[tuple[str, tuple]]) -> list[Any]:
        """Several calls in one request; answers in the order of ``calls``."""
        return self._post(calls) if calls else []

    def _post(self, calls: list[tuple[str, tuple]]) -> list[Any]:
        requests_ = [{"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                      "params": list(params)} for method, params in calls]
        payload = requests_[0] if len(requests_) == 1 else requests_
        try:
            response = self._session.post(
                self.url, data=json.dumps(payload, default=_encode),
                headers={"Content-Type": "application/json"},
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))
        except requests.RequestException as error:
            raise TemporaryNodeError(f"{calls[0][0]}: node unreachable: {error}") from error
        if response.status_code in (401, 403):
            raise NodeError(f"the node refused our credentials (HTTP {response.status_code})")
        if response.status_code >= 500 and not response.content:
            raise TemporaryNodeError(f"{calls[0][0]}: node answered HTTP {response.status_code}")
        try:
            decoded = json.loads(response.text, parse_float=Decimal)
        except ValueError as error:
            raise TemporaryNodeError(f"{calls[0][0]}: node answered something not JSON") from error
        answers = decoded if isinstance(decoded, list) else [decoded]
        by_id = {answer.get("id"): answer for answer in answers}
        results = []
        for request, (method, _) in zip(requests_, calls):
            answer = by_id.get(request["id"])
            if answer is None:
                raise TemporaryNodeError(f"{method}: the node's answer is missing")
            if answer.get("error"):
                error = answer["error"]
                raise RpcError(method, int(error.get("code", 0)), str(error.get("message", "")))
            results.append(answer.get("result"))
        return results
