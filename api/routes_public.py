"""Public routes: health, and what is traded."""

from __future__ import annotations

from sqlalchemy import select, text

from api.routing import Call, Routes
from api.services import Services
from api.schemas import CURRENCY_CODE, obj
from db.schema import currencies
from ledger.scales import scales as currency_scales
from money import format_amount
from trading.markets import load_markets

CURRENCY = obj(code=CURRENCY_CODE, name={"type": "string"}, scale={"type": "integer"},
               confirmations={"type": "integer"}, withdrawal_fee={"type": "string"},
               withdrawal_min={"type": "string"},
               withdrawal_max={"type": ["string", "null"]},
               withdrawal_daily_max={"type": ["string", "null"]},
               withdrawals_paused={"type": "boolean"})
MARKET = obj(symbol={"type": "string"}, base=CURRENCY_CODE, quote=CURRENCY_CODE,
             tick_size={"type": "string"}, lot_size={"type": "string"},
             min_notional={"type": "string"}, maker_fee_bps={"type": "integer"},
             taker_fee_bps={"type": "integer"}, status={"enum": ["open", "halted"]})


routes = Routes()


@routes.route("GET", "/healthz", summary="the process is alive", tag="health", counted=False,
              responses={200: ("alive", obj(status={"const": "ok"}))})


def healthz(services: Services, call: Call) -> dict:
    return {"status": "ok"}


@routes.route("GET", "/readyz", summary="the process can reach PostgreSQL and Redis",
              tag="health", counted=False,
              responses={200: ("ready", obj(status={"const": "ready"})),
                         503: ("service_unavailable: one of them is away", None)})


def readyz(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    services.limiter.ping()
    return {"status": "ready"}


@routes.route("GET", "/v1/currencies", summary="currencies: scale and confirmations",
              tag="market data", responses={200: ("the currencies", obj(
                  items={"type": "array", "items": CURRENCY}))})


def list_currencies(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        rows = conn.execute(select(currencies).order_by(currencies.c.code)).all()
    def amount(value, scale):
        return None if value is None else format_amount(value, scale)
    return {"items": [{"code": r.code, "name": r.name, "scale": r.scale,
                       "confirmations": r.confirmations,
                       "withdrawal_fee": amount(r.withdrawal_fee, r.scale),
                       "withdrawal_min": amount(r.withdrawal_min, r.scale),
                       "withdrawal_max": amount(r.withdrawal_max, r.scale),
                       "withdrawal_daily_max": amount(r.withdrawal_daily_max, r.scale),
                       "withdrawals_paused": r.withdrawals_paused} for r in rows]}


@routes.route("GET", "/v1/markets", summary="markets: tick size, lot size, minimum notional, "
              "fees", tag="market data", responses={200: ("the markets", obj(
                  items={"type": "array", "items": MARKET}))})


def list_markets(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        found = load_markets(conn)
        scales = currency_scales(conn, {c for m in found for c in (m.base, m.quote)})
    return {"items": [{
        "symbol": m.symbol, "base": m.base, "quote": m.quote,
        "tick_size": format_amount(m.tick_size, scales[m.quote]),
        "lot_size": format_amount(m.lot_size, scales[m.base]),
        "min_notional": format_amount(m.min_notional, scales[m.quote]),
        "maker_fee_bps": m.maker_fee_bps, "taker_fee_bps": m.taker_fee_bps,
        "status": m.status,
    } for m in found]}
