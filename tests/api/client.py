"""A small HTTP client for the tests: JSON in and out, sessions, and signed API keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests


class Client:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self.http = requests.Session()

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json"} if data else {}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        return self.http.request(method, self.base_url + path, data=data, headers=sent,
                                 timeout=30)

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.call("GET", path, **options)

    def post(self, path: str, body: Any = None, **options: Any) -> requests.Response:
        return self.call("POST", path, body, **options)

    def delete(self, path: str, body: Any = None, **options: Any) -> requests.Response:
        return self.call("DELETE", path, body, **options)


def signature_headers(key_id: str, secret: str, method: str, path_with_query: str,
                      body: bytes = b"", timestamp_ms: int | None = None) -> dict[str, str]:
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    message = (timestamp + method + path_with_query).encode() + body
    return {"X-API-Key": key_id, "X-API-Timestamp": timestamp,
            "X-API-Signature": hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}


class SignedClient(Client):
    """Signs every request with an API key, as a bot does."""

    def __init__(self, base_url: str, key_id: str, secret: str) -> None:
        super().__init__(base_url)
        self.key_id, self.secret = key_id, secret

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        signed = signature_headers(self.key_id, self.secret, method, path, data)
        return super().call(method, path, raw=data, headers={**signed, **(headers or {})})


def error_of(response: requests.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]
