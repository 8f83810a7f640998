"""The caller's account through the face: balances (free = available, locked = held, as
the ledger has them), fees, and the caller's trades."""

from __future__ import annotations

import time
from decimal import Decimal

from sqlalchemy import select

from api.binance.routes_market import LIMIT, MILLISECONDS, SYMBOL, ANY
from api.binance.routing import BinanceRoutes, Request
from api.binance.services import BinanceServices
from api.binance.shapes import my_trade
from api.binance.windows import window
from db.schema import fills
from ledger import format_amount, user_balances_now

TRADES_DEFAULT, TRADES_MAX = 500, 1000
RATE_DECIMALS = 8

routes = BinanceRoutes()


def _rate(bps: int) -> str:
    return f"{Decimal(bps) / 10_000:.{RATE_DECIMALS}f}"


@routes.route("GET", "/api/v3/account", security="read", answer=ANY,
              params={"omitZeroBalances": {"type": "string"}},
              summary="Binance: the caller's balances and fees")
def account(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.all()
    found = user_balances_now(services.native.reader, request.user_id)
    assets = sorted({m.market.base for m in listed} | {m.market.quote for m in listed}
                    | set(found))
    omit_zero = request.params.text("omitZeroBalances") == "true"
    balances = [{"asset": b.currency, "free": format_amount(b.available, b.scale),
                 "locked": format_amount(b.held, b.scale)}
                for b in (found.get(a) for a in assets) if b is not None
                and (b.total or not omit_zero)]
    if not omit_zero:
        balances += [{"asset": a, "free": "0", "locked": "0"} for a in assets if a not in found]
        balances.sort(key=lambda b: b["asset"])
    maker = max((m.market.maker_fee_bps for m in listed), default=0)
    taker = max((m.market.taker_fee_bps for m in listed), default=0)
    scopes = request.principal.scopes if request.principal else frozenset()
    return {"makerCommission": maker, "takerCommission": taker, "buyerCommission": 0,
            "sellerCommission": 0, "commissionRates": {
                "maker": _rate(maker), "taker": _rate(taker), "buyer": _rate(0),
                "seller": _rate(0)},
            "canTrade": "trade" in scopes, "canWithdraw": "withdraw" in scopes,
            "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
            "preventSor": False, "updateTime": int(time.time() * 1000), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": request.user_id}


@routes.route("GET", "/api/v3/account/commission", security="read", params={"symbol": SYMBOL},
              answer=ANY, summary="Binance: a market's fees")
def commission(services: BinanceServices, request: Request) -> dict:
    market = services.symbols.get(request.params.text("symbol")).market
    zero = _rate(0)
    return {"symbol": request.params.text("symbol"), "standardCommission": {
        "maker": _rate(market.maker_fee_bps), "taker": _rate(market.taker_fee_bps),
        "buyer": zero, "seller": zero},
        "specialCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "taxCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                     "discountAsset": None, "discount": zero}}


@routes.route("GET", "/sapi/v1/asset/tradeFee", security="read", params={"symbol": SYMBOL},
              answer=ANY, summary="Binance: every market's fees (ccxt's fetch_trading_fees)")
def trade_fees(services: BinanceServices, request: Request) -> list:
    symbol = request.params.text("symbol")
    chosen = [services.symbols.get(symbol)] if symbol else services.symbols.all()
    return [{"symbol": m.symbol, "makerCommission": _rate(m.market.maker_fee_bps),
             "takerCommission": _rate(m.market.taker_fee_bps)} for m in chosen]


@routes.route("GET", "/sapi/v1/system/status", security="public", answer=ANY,
              summary="Binance: the system's status (ccxt's fetch_status)")
def system_status(services: BinanceServices, request: Request) -> dict:
    return {"status": 0, "msg": "normal"}


@routes.route("GET", "/api/v3/myTrades", security="read", answer=ANY,
              params={"symbol": SYMBOL, "orderId": MILLISECONDS, "startTime": MILLISECONDS,
                      "endTime": MILLISECONDS, "fromId": MILLISECONDS, "limit": LIMIT},
              summary="Binance: the caller's trades in a market, oldest first")
def my_trades(services: BinanceServices, request: Request) -> list:
    params = request.params
    listed = services.symbols.get(params.text("symbol"))
    limit = params.limit(TRADES_DEFAULT, TRADES_MAX)
    order_id, start, end, from_id = (params.integer(name, low=0) for name in (
        "orderId", "startTime", "endTime", "fromId"))
    query = select(fills).where(fills.c.user_id == request.user_id,
                                fills.c.market == listed.market.symbol)
    if order_id is not None:
        query = query.where(fills.c.order_id == order_id)
    rows = window(services.native.engine, query, fills, limit, from_id=from_id, start=start,
                  end=end, id_column=fills.c.trade_id)
    return [my_trade(row, listed, listed.scales) for row in rows]
