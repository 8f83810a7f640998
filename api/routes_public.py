"""Public routes: health and what is traded."""

from __future__ import annotations

import bottle
from sqlalchemy import Engine, select, text

from db.schema import currencies
from ledger.amounts import format_amount
from matcher.markets import load_markets


def register(app: bottle.Bottle, engine: Engine) -> None:
    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ready"}

    @app.get("/v1/currencies")
    def list_currencies() -> dict:
        with engine.connect() as conn:
            rows = conn.execute(select(currencies).order_by(currencies.c.code)).all()
        return {"items": [{"code": r.code, "name": r.name, "scale": r.scale,
                           "confirmations": r.confirmations} for r in rows]}

    @app.get("/v1/markets")
    def list_markets() -> dict:
        with engine.connect() as conn:
            found = load_markets(conn)
            scales = dict(conn.execute(select(currencies.c.code, currencies.c.scale)).all())
        return {"items": [{
            "symbol": m.symbol, "base": m.base, "quote": m.quote,
            "tick_size": format_amount(m.tick_size, scales[m.quote]),
            "lot_size": format_amount(m.lot_size, scales[m.base]),
            "min_notional": format_amount(m.min_notional, scales[m.quote]),
            "maker_fee_bps": m.maker_fee_bps, "taker_fee_bps": m.taker_fee_bps,
            "status": m.status,
        } for m in found]}
