"""Money: exact decimal amounts, parsing, scale checks, explicit rounding, fees.

Money is ``Decimal`` in Python and ``NUMERIC`` in PostgreSQL. Arithmetic on money
goes through ``MONEY`` (wide precision, inexact results trapped), so a
computation that would silently round raises instead. Rounding happens only
where it is asked for, with the direction named at the call.
"""

from __future__ import annotations

import re
from decimal import (
    ROUND_DOWN, ROUND_UP, Context, Decimal, Inexact, InvalidOperation, Overflow,
    localcontext,
)



class AmountError(Exception):
    """Raised when an amount is not a decimal string that fits its currency."""

    code = "invalid_amount"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


SCALE_MAX = 18
INTEGER_DIGITS_MAX = 30
# The bound on a client's text. Decimals past the currency's scale are accepted when they
# are zeros (bots print a fixed "%.8f" whatever the currency), so the run of zeros is what
# this length bounds: "1." and 47 zeros at most.
AMOUNT_TEXT_LENGTH_MAX = INTEGER_DIGITS_MAX + 1 + SCALE_MAX

# 30 integer digits and 18 decimals, squared, still fit in 100 digits.
MONEY = Context(prec=100, rounding=ROUND_DOWN, traps=[Inexact, InvalidOperation, Overflow])
# quantize() rounds on purpose; only InvalidOperation (too many digits) must raise.
MONEY_ROUNDING = Context(prec=100, traps=[InvalidOperation, Overflow])

_DECIMAL_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")


def unit(scale: int) -> Decimal:
    """The smallest amount of a currency with this scale: ``unit(8) == Decimal('1E-8')``."""
    return _UNITS[scale] if 0 <= scale <= SCALE_MAX else Decimal(1).scaleb(-scale)


_UNITS = tuple(Decimal(1).scaleb(-scale) for scale in range(SCALE_MAX + 1))


def parse_amount(value: object, scale: int, *, field: str = "amount",
                 allow_zero: bool = False) -> Decimal:
    """Parse a client's amount: a plain decimal string, positive, exact at ``scale``.

    The result is at the scale (``"20.00000000"`` at scale 6 is ``Decimal("20.000000")``,
    as is ``"20"``), so what is stored and echoed does not depend on how it was written.
    A JSON number, NaN, Infinity, an exponent, a sign or a non-zero digit past the scale
    is refused, never rounded: a client that sends 0.123456789 BTC has a bug we must not
    hide.
    """
    if not isinstance(value, str):
        raise AmountError(f"{field} must be a decimal string such as \"1.5\", "
                          f"not a JSON {_json_type(value)}", field=field)
    if len(value) > AMOUNT_TEXT_LENGTH_MAX or not _DECIMAL_TEXT.fullmatch(value):
        raise AmountError(f"{field} must be a plain non-negative decimal string such as "
                          f"\"1.5\" (digits and one point, at most "
                          f"{INTEGER_DIGITS_MAX} integer digits and "
                          f"{AMOUNT_TEXT_LENGTH_MAX} characters); got {value[:60]!r}",
                          field=field)
    amount = Decimal(value)
    if amount.adjusted() >= INTEGER_DIGITS_MAX:
        raise AmountError(f"{field} is too large; got {value!r}", field=field)
    exact = amount.quantize(unit(scale), rounding=ROUND_DOWN, context=MONEY_ROUNDING)
    if exact != amount:
        raise AmountError(f"{field} has more than {scale} decimals and would need rounding "
                          f"(zeros past them are fine); got {value!r}", field=field)
    if exact == 0 and not allow_zero:
        raise AmountError(f"{field} must be greater than zero", field=field)
    return exact


def exact_at_scale(amount: Decimal, scale: int, *, field: str = "amount") -> Decimal:
    """An operator's ``amount`` at ``scale``, as ``parse_amount`` leaves a client's; refused
    if it is not finite, too large, or would need rounding."""
    if isinstance(amount, Decimal) and amount.is_finite() \
            and amount.adjusted() >= INTEGER_DIGITS_MAX:
        raise AmountError(f"{field} {amount} is too large", field=field)
    return check_scale(amount, scale, field=field).quantize(unit(scale),
                                                            context=MONEY_ROUNDING)


def check_scale(amount: Decimal, scale: int, *, field: str = "amount") -> Decimal:
    """Refuse an internal amount that is not finite or has more decimals than ``scale``."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise AmountError(f"{field} must be a finite Decimal, got {amount!r}", field=field)
    if amount != amount.quantize(unit(scale), rounding=ROUND_DOWN, context=MONEY_ROUNDING):
        raise AmountError(f"{field} {amount} has more than {scale} decimals", field=field)
    return amount


def round_down(amount: Decimal, scale: int) -> Decimal:
    """Round toward zero to ``scale`` decimals (what the exchange pays out)."""
    return amount.quantize(unit(scale), rounding=ROUND_DOWN, context=MONEY_ROUNDING)


def round_up(amount: Decimal, scale: int) -> Decimal:
    """Round away from zero to ``scale`` decimals (what the exchange charges)."""
    return amount.quantize(unit(scale), rounding=ROUND_UP, context=MONEY_ROUNDING)


def format_amount(amount: Decimal, scale: int) -> str:
    """The API's string for an amount: exactly ``scale`` decimals, never an exponent."""
    if type(amount) is Decimal and amount.is_finite():
        # An amount held at its scale, as the database returns what it stores, is its
        # own fixed-point text: checking and padding it was two thirds of the cost.
        text = format(amount, "f")
        point = text.find(".")
        if len(text) - point - 1 == scale if point >= 0 else scale == 0:
            return text
    return f"{check_scale(amount, scale):.{scale}f}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"  # int, or the API's kept-as-text non-integer number


def exact_fee(notional: Decimal, bps: int) -> Decimal:
    """A fee at ``bps`` on ``notional``, unrounded."""
    with localcontext() as context:
        context.prec = 100
        return notional * bps / 10_000


def fee(notional: Decimal, bps: int, scale: int) -> Decimal:
    """A fee on ``notional`` at ``bps``, rounded up to the quote's scale: in the exchange's
    favour, by less than one unit, and never lost (it is booked to the fee account)."""
    if bps == 0:
        return Decimal(0)
    with localcontext() as context:
        context.prec = 100
        return (notional * bps / 10_000).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_UP)


def buyer_cost(price: Decimal, quantity: Decimal, fee_bps: int, scale: int) -> Decimal:
    """What a buyer pays for ``quantity`` at ``price`` with a fee of ``fee_bps``."""
    notional = MONEY.multiply(price, quantity)
    return round_up(notional, scale) + fee(notional, fee_bps, scale)
