"""The web process reads request headers itself (api.request_headers): as gevent's
handler did, and stricter where a request could be smuggled."""

from __future__ import annotations

import socket
from io import BytesIO
from urllib.parse import urlparse

from api.request_headers import HEADERS_MAX, LINE_BYTES_MAX, RequestHeaders


def read(raw: bytes) -> RequestHeaders:
    return RequestHeaders.read(BytesIO(raw))


def test_headers_are_found_by_any_case_first_one_first_and_can_be_deleted():
    headers = read(b"Host: example\r\nContent-Type:  application/json \r\n"
                   b"X-Twice: one\r\nx-twice: two\r\nContent-Length: 12\r\n\r\nbody")
    assert headers.status == ""
    assert headers.get("content-type") == headers.typeheader == "application/json"
    assert headers.getheader("X-TWICE") == "one"
    assert headers.get("missing", "default") == "default"
    del headers["content-length"]
    assert headers.get("Content-Length") is None
    assert headers.headers == ["Host: example\r\n", "Content-Type: application/json\r\n",
                               "X-Twice: one\r\n", "x-twice: two\r\n"]


def test_what_could_smuggle_or_flood_a_request_is_refused():
    assert read(b"Content-Length: 5\r\ncontent-length: 50\r\n\r\n").status
    assert read(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n").status
    assert read(b"X-Folded: one\r\n  two\r\n\r\n").status == "Invalid header line"
    assert read(b"Bad Name: x\r\n\r\n").status == "Invalid header line"
    assert read(b"no colon\r\n\r\n").status == "Invalid header line"
    assert read(b"X-Long: " + b"a" * LINE_BYTES_MAX + b"\r\n\r\n").status == "Line too long"
    many = b"".join(b"X-%d: y\r\n" % number for number in range(HEADERS_MAX + 1))
    assert read(many + b"\r\n").status == "Too many headers"
    assert read(many[:-len(b"X-100: y\r\n")] + b"\r\n").status == ""


def test_the_server_answers_400_to_a_request_with_two_content_lengths(api_url):
    url = urlparse(api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                     b"Content-Length: 40\r\n\r\n{}")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
