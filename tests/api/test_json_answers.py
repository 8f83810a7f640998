"""What the answers' encoder writes, and what it refuses rather than guess."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from api import json_answers


def test_answers_are_compact_json_with_integer_keys_as_strings() -> None:
    answer = {"price": "1.50", "ids": [1, 2], "none": None, "ok": True, 200: "text é"}
    assert json_answers.encoded(answer) == '{"price":"1.50","ids":[1,2],"none":null,' \
        '"ok":true,"200":"text é"}'.encode()
    assert json.loads(json_answers.encoded(answer)) == {**json.loads(json.dumps(answer))}


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [Decimal("1.5"), datetime(2026, 12, 4, tzinfo=timezone.utc),
                                   Point(1), {1, 2}, b"raw", 1 << 64])
def test_what_a_view_must_format_itself_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        json_answers.encoded({"value": value})
