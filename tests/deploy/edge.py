"""HTTP clients that reach the test's nginx from an address of their own (127.0.0.2...), as
remote people would."""

from __future__ import annotations

from pathlib import Path

import requests
from requests.adapters import HTTPAdapter


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_address(session: requests.Session, address: str, certificate: Path) -> None:
    """Make ``session`` connect from ``address`` (on loopback) and trust the test pair."""
    session.mount("https://", _FromAddress(address))
    session.mount("http://", _FromAddress(address))
    session.verify = str(certificate)
    session.trust_env = False        # REQUESTS_CA_BUNDLE would win over ``verify``
