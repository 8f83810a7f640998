"""Helpers for trading tests: a market of fresh currencies, funded users, invariants."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Engine, insert, text

from db.schema import markets
from ledger import reconcile
from trading import placing
from workers.matching.runner import MarketRunner
from tests.factories import create_currency, create_user, deposit

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A fake clock the tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def create_market(admin_engine: Engine, maker_fee_bps: int = 10, taker_fee_bps: int = 20,
                  tick: str = "0.01", lot: str = "0.001", min_notional: str = "1",
                  quote_scale: int = 2) -> str:
    base = create_currency(admin_engine, scale=8)
    quote = create_currency(admin_engine, scale=quote_scale)
    symbol = f"{base}-{quote}"
    with admin_engine.begin() as conn:
        conn.execute(insert(markets).values(
            symbol=symbol, base=base, quote=quote, tick_size=Decimal(tick),
            lot_size=Decimal(lot), min_notional=Decimal(min_notional),
            maker_fee_bps=maker_fee_bps, taker_fee_bps=taker_fee_bps))
    return symbol


def funded_user(engine: Engine, market: str, base: str = "0", quote: str = "0") -> int:
    base_code, quote_code = market.split("-")
    with engine.begin() as conn:
        user = create_user(conn)
        if Decimal(base):
            deposit(conn, user, base_code, Decimal(base))
        if Decimal(quote):
            deposit(conn, user, quote_code, Decimal(quote))
    return user


def place(engine: Engine, user: int, market: str, now: datetime = NOW, **order: object) -> dict:
    body = {"market": market, **{k: v for k, v in order.items()}}
    with engine.begin() as conn:
        placed, _ = placing.place(conn, user, body, now)
    return placed


def balances(engine: Engine, user: int) -> dict[str, tuple[Decimal, Decimal]]:
    """currency -> (available, held)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT currency, kind, balance FROM accounts "
                                 "WHERE owner_user_id = :u"), {"u": user}).all()
    found: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for currency, kind, amount in rows:
        found[currency][0 if kind == "available" else 1] = amount
    return {currency: (pair[0], pair[1]) for currency, pair in found.items()}


def order_row(engine: Engine, order_id: str | int):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM orders WHERE id = :i"),
                            {"i": int(order_id)}).one()


def fee_balance(engine: Engine, currency: str) -> Decimal:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(sum(balance), 0) FROM accounts "
                                 "WHERE currency = :c AND kind = 'fees'"),
                            {"c": currency}).scalar_one()


def runner(engine: Engine, settings, market: str, clock: Clock | None = None) -> MarketRunner:  # type: ignore[no-untyped-def]
    return MarketRunner(engine, settings.database_url, market, clock=clock or Clock())


def assert_consistent(engine: Engine) -> None:
    """reconcile() is clean (so every held balance is what orders and withdrawals hold),
    no user balance is negative, and no finished order holds anything."""
    assert reconcile(engine) == []
    with engine.connect() as conn:
        negative = conn.execute(text("SELECT count(*) FROM accounts WHERE balance < 0 "
                                     "AND kind <> 'world'")).scalar_one()
        stale = conn.execute(text("SELECT count(*) FROM orders WHERE hold_remaining > 0 AND "
                                  "status IN ('filled', 'cancelled', 'expired', 'rejected')"
                                  )).scalar_one()
    assert negative == 0
    assert stale == 0
