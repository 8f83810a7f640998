"""Currency scales, read once per process: a currency's scale never changes (its amounts
are stored at it), but currencies are added, so a code not seen yet is read when asked for."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import Connection, Engine, select

from db.schema import currencies
from ledger.errors import UnknownCurrency

SCALES_CACHED_MAX = 10_000
_known: dict[str, int] = {}


def scales(conn: Connection, codes: Iterable[str]) -> dict[str, int]:
    """The scale of each of ``codes`` that is a currency (unknown codes are left out)."""
    wanted = set(codes)
    missing = wanted - _known.keys()
    if missing:
        if len(_known) + len(missing) > SCALES_CACHED_MAX:
            _known.clear()
        rows = conn.execute(select(currencies.c.code, currencies.c.scale).where(
            currencies.c.code.in_(sorted(missing))))
        _known.update((code, scale) for code, scale in rows)
    return {code: _known[code] for code in wanted if code in _known}


def scales_of(engine: Engine, codes: Iterable[str]) -> dict[str, int]:
    """``scales``, with a connection of ``engine`` taken only for codes not seen yet."""
    wanted = set(codes)
    if wanted <= _known.keys():
        return {code: _known[code] for code in wanted}
    with engine.connect() as conn:
        return scales(conn, wanted)


def scale(conn: Connection, code: str) -> int:
    """The scale of currency ``code``; UnknownCurrency if there is none."""
    found = scales(conn, (code,))
    if code not in found:
        raise UnknownCurrency(f"unknown currency {code!r}", field="currency")
    return found[code]


def market_scales(conn: Connection, symbol: str) -> dict[str, int]:
    """The scales of a market's base and quote, by code (the symbol is BASE-QUOTE)."""
    return scales(conn, symbol.split("-"))


def forget_cached_scales() -> None:
    """Drop what was read (tests that recreate their database need this)."""
    _known.clear()
