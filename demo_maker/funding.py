"""Keeping both accounts funded: a press of the faucet for each currency of the quoted
markets that has fallen under half a grant (quotes and fees wear balances down)."""

from __future__ import annotations

from decimal import Decimal

from demo_maker.accounts import Accounts, grant
from demo_maker.venue import PacedBinance


def balances(exchange: PacedBinance) -> dict[str, tuple[Decimal, Decimal]]:
    """(free, locked) per currency, exact: from the response's strings, not ccxt's floats."""
    account = exchange.fetch_balance()["info"]
    return {item["asset"]: (Decimal(item["free"]), Decimal(item["locked"]))
            for item in account["balances"]}


def top_up(accounts: Accounts, role: str, exchange: PacedBinance,
           currencies: set[str]) -> dict[str, Decimal]:
    """Fund what runs low; the free balance of each currency afterwards."""
    held = balances(exchange)
    pressed = False
    for currency in sorted(currencies):
        free, locked = held.get(currency, (Decimal(0), Decimal(0)))
        if free + locked < grant(currency) / 2:
            pressed = accounts.fund(role, currency, grant(currency)) or pressed
    if pressed:
        held = balances(exchange)
    return {currency: free for currency, (free, _) in held.items()}
