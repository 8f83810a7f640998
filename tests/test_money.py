"""Amounts from clients: exact decimal strings, or a clear refusal."""

from decimal import Decimal

import pytest

from api.errors import ApiError
from api.jsonbody import decode_object
from ledger import AmountError, format_amount, parse_amount, round_down, round_up


@pytest.mark.parametrize("text, scale, at_scale", [
    ("1", 8, "1.00000000"),
    ("0.00000001", 8, "0.00000001"),
    ("123456789012345678901234567890", 0, "123456789012345678901234567890"),
    ("0.123456789012345678", 18, "0.123456789012345678"),
    ("1.50", 2, "1.50"),
    ("1.5", 2, "1.50"),
    ("20.00000000", 6, "20.000000"),
    ("1.50000", 2, "1.50"),
    ("7.000", 0, "7"),
    ("0.1234567890123456780000000000", 18, "0.123456789012345678"),
    ("1." + "0" * 47, 8, "1.00000000"),
])
def test_plain_decimal_strings_parse_exactly_and_come_back_at_the_scale(text, scale, at_scale):
    parsed = parse_amount(text, scale)
    assert parsed == Decimal(text)
    assert f"{parsed:f}" == at_scale and parsed.as_tuple().exponent == -scale


@pytest.mark.parametrize("value, scale, message", [
    ("0.000000001", 8, "more than 8 decimals"),
    ("1.005", 2, "more than 2 decimals"),
    ("20.0000001", 6, "more than 6 decimals and would need rounding"),
    ("20.00000010", 6, "more than 6 decimals and would need rounding"),
    ("1.0000000000000000000000000000000000000000000001", 18, "would need rounding"),
    ("1." + "0" * 48, 8, "at most 30 integer digits and 49 characters"),
    ("-1", 8, "plain non-negative decimal string"),
    ("+1", 8, "plain non-negative decimal string"),
    ("NaN", 8, "plain non-negative decimal string"),
    ("Infinity", 8, "plain non-negative decimal string"),
    ("-Infinity", 8, "plain non-negative decimal string"),
    ("1e-8", 8, "plain non-negative decimal string"),
    ("1E3", 8, "plain non-negative decimal string"),
    (" 1", 8, "plain non-negative decimal string"),
    ("1.", 8, "plain non-negative decimal string"),
    (".5", 8, "plain non-negative decimal string"),
    ("01", 8, "plain non-negative decimal string"),
    ("1,5", 8, "plain non-negative decimal string"),
    ("٣", 8, "plain non-negative decimal string"),  # a non-ASCII digit
    ("", 8, "plain non-negative decimal string"),
    ("1" * 31, 0, "too large"),
    ("9" * 60, 0, "plain non-negative decimal string"),
    ("0", 8, "greater than zero"),
    ("0.00", 8, "greater than zero"),
    (1.5, 8, "not a JSON number"),
    (1, 8, "not a JSON number"),
    (True, 8, "not a JSON boolean"),
    (None, 8, "not a JSON null"),
    ({"amount": "1"}, 8, "not a JSON object"),
])
def test_bad_amounts_are_refused_with_a_message_that_says_what_to_fix(value, scale, message):
    with pytest.raises(AmountError, match=message) as refused:
        parse_amount(value, scale, field="quantity")
    assert refused.value.field == "quantity"
    assert refused.value.code == "invalid_amount"


def test_zero_is_accepted_only_where_asked():
    assert parse_amount("0", 8, allow_zero=True) == 0


def test_a_json_float_reaches_the_amount_parser_as_a_refusable_number_never_a_float():
    body = decode_object(b'{"amount": 0.1, "big": 1e400, "count": 3}')
    assert not isinstance(body["amount"], float) and not isinstance(body["big"], float)
    assert body["count"] == 3
    with pytest.raises(AmountError, match="not a JSON number"):
        parse_amount(body["amount"], 8)


@pytest.mark.parametrize("raw", [b'{"amount": NaN}', b'{"amount": Infinity}',
                                 b'{"amount": -Infinity}'])
def test_json_nan_and_infinity_are_refused(raw):
    with pytest.raises(ApiError, match="not valid JSON") as refused:
        decode_object(raw)
    assert (refused.value.status, refused.value.code) == (400, "invalid_json")


@pytest.mark.parametrize("raw, code", [(b"[1]", "invalid_json"), (b"{", "invalid_json"),
                                       (b"\xff", "invalid_json"),
                                       (b" " * (64 * 1024 + 1), "body_too_large")])
def test_malformed_bodies_are_refused(raw, code):
    with pytest.raises(ApiError) as refused:
        decode_object(raw)
    assert refused.value.code == code


def test_rounding_is_explicit_and_never_loses_digits_silently():
    assert round_down(Decimal("1.239"), 2) == Decimal("1.23")
    assert round_up(Decimal("1.231"), 2) == Decimal("1.24")
    assert round_up(Decimal("1.23"), 2) == Decimal("1.23")
    assert format_amount(Decimal("1.5"), 8) == "1.50000000"
    assert format_amount(Decimal("1E-18"), 18) == "0.000000000000000001"
    with pytest.raises(AmountError):
        format_amount(Decimal("0.001"), 2)


@pytest.mark.parametrize("amount, scale, shown", [
    ("0.50000000", 8, "0.50000000"),       # held at its scale: its own text
    ("0E-8", 8, "0.00000000"),             # zero at a scale: never "0E-8"
    ("5", 0, "5"), ("1E+2", 0, "100"), ("1E+2", 2, "100.00"),
    ("1.000", 2, "1.00"),                  # more zeros than the scale: not more digits
    ("0.1", 8, "0.10000000"),
    ("12345678901234567890.123456789012345678", 18,
     "12345678901234567890.123456789012345678"),
])
def test_an_amount_is_shown_at_exactly_its_scale(amount: str, scale: int, shown: str) -> None:
    assert format_amount(Decimal(amount), scale) == shown


@pytest.mark.parametrize("amount, scale", [
    ("123.456", 2), ("0.000000001", 8), ("NaN", 0), ("Infinity", 0), ("-Infinity", 0),
    ("sNaN", 0), ("1.5", 0)])
def test_an_amount_that_would_need_rounding_or_is_no_number_is_never_shown(
        amount: str, scale: int) -> None:
    with pytest.raises(AmountError):
        format_amount(Decimal(amount), scale)
