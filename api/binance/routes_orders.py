"""Placing, reading and cancelling orders through the face: the native order path, the
native cancels, the same holds and the same matcher.

``POST /api/v3/order`` answers once the order is committed, held and queued (as
``POST /v1/orders``). Asked for ``RESULT`` or ``FULL`` (ccxt always asks for ``FULL``),
it then waits up to ``RESULT_WAIT_SECONDS`` for the matcher to have processed it and
answers what it did, with the fills; past that it answers ``NEW`` with what it has (the
order goes on, as queued). A cancel likewise answers once the matcher has cancelled, or
after that bound with the order as it then stands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.binance.errors import DUPLICATE, UNKNOWN_ORDER, WOULD_TAKE, BinanceError
from api.binance.new_orders import native_order
from api.binance.routes_market import LIMIT, MILLISECONDS, SYMBOL, ANY
from api.binance.routing import BinanceRoutes, Request
from api.binance.services import BinanceServices
from api.binance.shapes import acknowledged, kept_order, ms, order, order_fill
from api.binance.symbols import Listed
from api.binance.windows import window
from api.routes_trading import CANCEL_UNCONFIRMED
from db import outcomes
from db.schema import fills, orders
from matcher.statuses import ACCEPTED, ACTIVE
from trading import matcher_requests, order_reads
from trading.errors import OrderNotFound

RESULT_WAIT_SECONDS = 2.0
ORDERS_DEFAULT, ORDERS_MAX = 500, 1000
ORDER_ID = {"type": "string", "pattern": "^[0-9]{1,19}$"}
NEW_ORDER_PARAMS = {name: {"type": "string"} for name in (
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price",
    "stopPrice", "newClientOrderId", "newOrderRespType", "selfTradePreventionMode")}
ONE_ORDER = {"symbol": SYMBOL, "orderId": ORDER_ID, "origClientOrderId": {"type": "string"}}

routes = BinanceRoutes()


@routes.route("POST", "/api/v3/order", security="trade", params=NEW_ORDER_PARAMS, answer=ANY,
              summary="Binance: place an order (the native path: held, queued, matched)")
def place(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.get(request.params.text("symbol"))
    native, answer = native_order(request.params, listed)
    placed, created = services.native.batcher.place(request.user_id, native)
    if not created:
        raise BinanceError(400, -2010, DUPLICATE)
    order_id = int(placed["id"])
    if answer == "ACK":
        return acknowledged(placed, listed)
    services.start_events()
    row, = services.order_waits.until(
        [order_id], lambda: _read(services, request.user_id, [order_id]),
        lambda rows: rows[0].status != ACCEPTED, RESULT_WAIT_SECONDS)
    if row.reject_reason == "post_only_would_take":
        raise BinanceError(400, -2010, WOULD_TAKE)
    return _answer(services, row, listed, answer)


@routes.route("POST", "/api/v3/order/test", security="trade", params=NEW_ORDER_PARAMS,
              answer=ANY, summary="Binance: check an order's parameters; nothing is placed")
def test_order(services: BinanceServices, request: Request) -> dict:
    native_order(request.params, services.symbols.get(request.params.text("symbol")))
    return {}


def _read(services: BinanceServices, user_id: int, order_ids: list[int]) -> list[Any]:
    with services.native.engine.connect() as conn:
        return list(conn.execute(select(orders).where(
            orders.c.id.in_(order_ids), orders.c.user_id == user_id).order_by(orders.c.id)))


def _answer(services: BinanceServices, row: Any, listed: Listed, answer: str) -> dict:
    shown = order(row, listed)
    if answer == "FULL":
        with services.native.engine.connect() as conn:
            rows = conn.execute(select(fills).where(fills.c.order_id == row.id)
                                .order_by(fills.c.id)).all()
        shown["fills"] = [order_fill(f, listed, listed.scales) for f in rows]
    return shown


def _named(services: BinanceServices, request: Request, listed: Listed, unknown: str
           ) -> tuple[order_reads.Query, list[Any]]:
    """The caller's order that ``orderId`` or ``origClientOrderId`` names, in the market."""
    order_id = request.params.integer("orderId", low=0)
    client_id = request.params.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                           "but both were empty/null!")
    market = listed.market.symbol
    query = order_reads.one(request.user_id, order_id, market) if order_id is not None else \
        order_reads.by_client_id(request.user_id, market, client_id)
    found = order_reads.versions(services.native.reader, query)
    if not found:
        raise BinanceError(400, -2013 if unknown == "query" else -2011,
                           "Order does not exist." if unknown == "query" else UNKNOWN_ORDER)
    return query, found


@routes.route("GET", "/api/v3/order", security="read", params=ONE_ORDER, answer=ANY,
              summary="Binance: one of the caller's orders")
def get_order(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.get(request.params.text("symbol"))
    query, found = _named(services, request, listed, "query")
    return order_reads.shown(services.native.reader, query, kept_order,
                             lambda row: listed, found)[0]


@routes.route("DELETE", "/api/v3/order", security="trade", answer=ANY,
              params={**ONE_ORDER, "newClientOrderId": {"type": "string"}},
              summary="Binance: cancel an order (in the matcher's sequence)")
def cancel(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.get(request.params.text("symbol"))
    _, (found,) = _named(services, request, listed, "cancel")
    try:
        with outcomes.transaction(services.native.engine, CANCEL_UNCONFIRMED) as conn:
            matcher_requests.request_cancel(conn, request.user_id, found.id)
    except OrderNotFound:
        raise BinanceError(400, -2011, UNKNOWN_ORDER) from None
    services.native.wake(listed.market.symbol)
    return _cancelled(services, request, listed, [found.id])[0]


def _cancelled(services: BinanceServices, request: Request, listed: Listed,
               order_ids: list[int]) -> list[dict]:
    """The orders once the matcher has cancelled them, or as they stand after the bound."""
    services.start_events()
    rows = services.order_waits.until(
        order_ids, lambda: _read(services, request.user_id, order_ids),
        lambda found: all(r.status not in ACTIVE for r in found), RESULT_WAIT_SECONDS)
    shown = []
    for row in rows:
        answer = order(row, listed)
        answer["origClientOrderId"] = answer["clientOrderId"]
        answer["clientOrderId"] = request.params.text("newClientOrderId") or \
            answer["clientOrderId"]
        answer["transactTime"] = ms(row.updated_at)
        shown.append(answer)
    return shown


@routes.route("GET", "/api/v3/openOrders", security="read", params={"symbol": SYMBOL},
              answer=ANY, summary="Binance: the caller's open orders, oldest first")
def open_orders(services: BinanceServices, request: Request) -> list:
    symbol = request.params.text("symbol")
    market = None if symbol is None else services.symbols.get(symbol).market.symbol
    return order_reads.shown(services.native.reader,
                             order_reads.active_oldest_first(request.user_id, market),
                             kept_order, lambda row: services.symbols.of_market(row.market))


@routes.route("DELETE", "/api/v3/openOrders", security="trade", params={"symbol": SYMBOL},
              answer=ANY, summary="Binance: cancel all the caller's orders in a market")
def cancel_open_orders(services: BinanceServices, request: Request) -> list:
    listed = services.symbols.get(request.params.text("symbol"))
    with outcomes.transaction(services.native.engine, CANCEL_UNCONFIRMED) as conn:
        order_ids = matcher_requests.request_cancel_all(conn, request.user_id,
                                                        listed.market.symbol)
    if not order_ids:
        raise BinanceError(400, -2011, UNKNOWN_ORDER)
    services.native.wake(listed.market.symbol)
    return _cancelled(services, request, listed, order_ids)


@routes.route("GET", "/api/v3/allOrders", security="read", answer=ANY,
              params={"symbol": SYMBOL, "orderId": ORDER_ID, "startTime": MILLISECONDS,
                      "endTime": MILLISECONDS, "limit": LIMIT},
              summary="Binance: the caller's orders in a market, every status, by id")
def all_orders(services: BinanceServices, request: Request) -> list:
    params = request.params
    listed = services.symbols.get(params.text("symbol"))
    limit = params.limit(ORDERS_DEFAULT, ORDERS_MAX)
    from_id, start, end = (params.integer(name, low=0)
                           for name in ("orderId", "startTime", "endTime"))
    rows = window(services.native.engine, select(orders).where(
        orders.c.user_id == request.user_id, orders.c.market == listed.market.symbol), orders,
        limit, from_id=from_id, start=start, end=end)
    return [order(row, listed) for row in rows]
