"""The JSON of the API's answers, both faces: compact, encoded by orjson.

The standard library's encoder was a tenth of the web process's CPU for a list of ten
orders; orjson's is a tenth of that. What JSON cannot say exactly is refused, as
before, never guessed: a Decimal (a view formats every amount as a string), and, passed
through to that refusal rather than written in orjson's own format, a datetime or a
dataclass (a view formats those too). Integer keys are written as strings, as the
standard library did.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | \
    orjson.OPT_PASSTHROUGH_DATACLASS


def encoded(answer: Any) -> bytes:
    """``answer`` as JSON (UTF-8); TypeError for what JSON cannot say exactly."""
    return orjson.dumps(answer, option=_OPTIONS)


def text(answer: Any) -> str:
    """``encoded``, as text."""
    return orjson.dumps(answer, option=_OPTIONS).decode()
