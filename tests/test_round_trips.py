"""db.round_trips: lists sent as array literals arrive exactly as psycopg2's own
adaptation of the list would have them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from db.round_trips import _array_literal

STRINGS = ["", "NULL", "null", "a,b", "{x}", 'say "hi"', "back\\slash", "\\\"", " padded ",
           "new\nline", "tab\t", "é€😀", "'quote'", "x" * 300]
NUMBERS = [0, -1, 2**63 - 1, -(2**63), Decimal("0.00000001"), Decimal("-0"), Decimal("1E+5"),
           Decimal("1.2345678901234567890123456789"), Decimal("0E-8"), Decimal("100.10")]


@pytest.mark.parametrize("values, kind", [
    (STRINGS + [None], "text[]"),
    (NUMBERS + [None], "numeric[]"),
    ([1, None, 3], "bigint[]"),
    ([None, None], "numeric[]"),
])
def test_array_literals_arrive_as_the_driver_would_send_them(engine, values, kind):
    literal = _array_literal(values)
    assert isinstance(literal, str)
    with engine.connect() as conn:
        sent, adapted = conn.exec_driver_sql(
            f"SELECT CAST(%(literal)s AS {kind}), CAST(%(values)s AS {kind})",
            {"literal": literal, "values": values}).one()
    assert sent == adapted == values
    assert [str(v) for v in sent] == [str(v) for v in adapted]   # the scale too: 100.10


def test_what_is_no_number_or_string_is_left_to_the_driver():
    assert _array_literal([True, False]) == [True, False]
    assert _array_literal([]) == []
    assert _array_literal([b"\x00"]) == [b"\x00"]
    assert _array_literal("text") == "text"


def test_a_read_whose_server_is_away_raises_sqlalchemys_error_as_any_statement_does(tmp_path):
    """Connecting included: the API answers such an error 503, a driver's own error 500."""
    from sqlalchemy.exc import OperationalError

    from db import engine as engines
    from db.round_trips import read
    from ledger.balances import _USER_BALANCES

    away = engines.create(f"postgresql://nobody@/nothing?host={tmp_path}", autocommit=True)
    with pytest.raises(OperationalError) as raised:
        read(away, _USER_BALANCES, {"user_id": 1})
    assert raised.value.connection_invalidated and "No such file" in str(raised.value.orig)
    away.dispose()
