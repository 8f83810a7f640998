"""The book feed's arithmetic, pure: depth snapshots, their differences, a checksum.

A book message carries the book's ``sequence`` (the last matcher request applied)
and the previous one, so a subscriber sees at once whether it missed a message;
its ``checksum`` (CRC-32 of the top levels) lets it prove its copy is right.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

from money import MONEY

FEED_DEPTH = 100         # levels per side that the feed follows
CHECKSUM_DEPTH = 25      # levels per side the checksum covers

Levels = list[tuple[Decimal, Decimal]]


def changes(before: dict[str, Levels], after: dict[str, Levels]) -> list[list[str]]:
    """[side, price, quantity] for every level that differs; quantity "0" removes it."""
    found = []
    for side in ("buy", "sell"):
        old = dict(before.get(side, []))
        new = dict(after.get(side, []))
        for price in sorted(set(old) | set(new)):
            if old.get(price) != new.get(price):
                found.append([side, plain(price), plain(new.get(price, Decimal(0)))])
    return found


def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """CRC-32 of "price:quantity" of the top bids then the top asks, joined by "|"; the
    strings are the feed's own (plain decimals, no trailing zeros)."""
    parts = [f"{p}:{q}" for p, q in bids[:CHECKSUM_DEPTH]] + \
            [f"{p}:{q}" for p, q in asks[:CHECKSUM_DEPTH]]
    return zlib.crc32("|".join(parts).encode())


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: the form the checksum is taken over."""
    return f"{MONEY.normalize(value):f}"


def depth(levels: Levels, limit: int = FEED_DEPTH) -> Levels:
    return levels[:limit]
