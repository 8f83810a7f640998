"""A request's headers, read for gevent's WSGI handler (its ``MessageClass``) without the
``email`` package that ``http.client`` parses them with: that parser cost a twentieth of
the ``web`` process's CPU per order.

Stricter than it, never looser: a line that is not ``name: value`` (with obsolete
folding among them), more than ``HEADERS_MAX`` headers, a line longer than
``LINE_BYTES_MAX``, or a second Content-Length or Transfer-Encoding (a way to smuggle a
request past a proxy) ends the request with 400.
"""

from __future__ import annotations

import re
from typing import BinaryIO

HEADERS_MAX = 100                 # as http.client
LINE_BYTES_MAX = 65536
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ONCE = ("content-length", "transfer-encoding")


class RequestHeaders:
    """What gevent's handler asks of its headers: ``status`` (a reason to refuse, or ""),
    ``get``/``getheader`` (the first of a name, any case), ``del``, ``headers`` (lines)
    and ``typeheader``."""

    __slots__ = ("pairs", "status")

    def __init__(self, pairs: list[tuple[str, str]], status: str = "") -> None:
        self.pairs, self.status = pairs, status

    @classmethod
    def read(cls, rfile: BinaryIO, *_: object) -> RequestHeaders:
        pairs: list[tuple[str, str]] = []
        while True:
            line = rfile.readline(LINE_BYTES_MAX + 1)
            if len(line) > LINE_BYTES_MAX:
                return cls([], "Line too long")
            if line in (b"\r\n", b"\n", b""):
                return cls(pairs)
            if len(pairs) == HEADERS_MAX:
                return cls([], "Too many headers")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not _NAME.fullmatch(name):
                return cls([], "Invalid header line")
            if name.lower() in _ONCE and any(name.lower() == key.lower() for key, _ in pairs):
                return cls([], f"{name} given twice")
            pairs.append((name, value.strip(" \t\r\n")))

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.pairs:
            if key.lower() == wanted:
                return value
        return default

    getheader = get

    def __delitem__(self, name: str) -> None:
        self.pairs = [(key, value) for key, value in self.pairs if key.lower() != name.lower()]

    @property
    def headers(self) -> list[str]:
        return [f"{key}: {value}\r\n" for key, value in self.pairs]

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")
