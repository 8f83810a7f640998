"""Orders, cancels and fills."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.pagination import newest_first, page
from api.routing import Call, Routes
from api.services import Services
from api.schemas import AMOUNT, CURSOR, LIMIT, TIMESTAMP, obj, page_of
from db import outcomes
from db.schema import fills, orders
from ledger.scales import market_scales, scales, scales_of
from trading import matcher_requests, order_reads, views
from matcher import order_types, statuses
from trading.errors import InvalidOrder, OrderNotFound

MARKET = {"type": "string", "maxLength": 24, "pattern": "^[A-Z][A-Z0-9]{1,9}-[A-Z][A-Z0-9]{1,9}$"}
STATUS = {"enum": list(statuses.ALL)}
NULLABLE_AMOUNT = {"type": ["string", "null"]}
ORDER = obj(
    id={"type": "string"}, market=MARKET, client_order_id={"type": ["string", "null"]},
    side={"enum": ["buy", "sell"]},
    type={"enum": list(order_types.ALL)},
    time_in_force={"enum": ["gtc", "ioc", "fok", "gtd"]}, price=NULLABLE_AMOUNT,
    stop_price=NULLABLE_AMOUNT, quantity=NULLABLE_AMOUNT, quote_quantity=NULLABLE_AMOUNT,
    post_only={"type": "boolean"}, expire_at={"type": ["string", "null"]}, status=STATUS,
    reject_reason={"type": ["string", "null"]}, filled_quantity=AMOUNT, filled_notional={
        "type": "string", "pattern": "^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,36})?$",
        "description": "the sum of price x quantity over the fills, exact: at the quote's "
        "scale plus the base's"},
    fee_paid=AMOUNT, held=AMOUNT, held_currency={"type": "string"}, created_at=TIMESTAMP,
    updated_at=TIMESTAMP)
NEW_ORDER = obj(
    ["market", "side", "type"], market=MARKET, side={"enum": ["buy", "sell"]},
    type={"enum": list(order_types.ALL)},
    quantity=AMOUNT, quote_quantity=AMOUNT, price=AMOUNT, stop_price=AMOUNT,
    time_in_force={"enum": ["gtc", "ioc", "fok", "gtd"]},
    expire_at={"type": "string", "maxLength": 40}, post_only={"type": "boolean"},
    client_order_id={"type": "string", "maxLength": 64})
FILL = obj(id={"type": "string"}, trade_id={"type": "string"}, order_id={"type": "string"},
           market=MARKET, side={"enum": ["buy", "sell"]}, price=AMOUNT, quantity=AMOUNT,
           fee=AMOUNT, fee_currency={"type": "string"}, liquidity={"enum": ["maker", "taker"]},
           created_at=TIMESTAMP)
# A cancel queued twice cancels once: the matcher finds the order gone from its book and
# does nothing more. So a cancel whose commit went unanswered is simply sent again.
CANCEL_UNCONFIRMED = ("the database did not confirm the cancel; send it again (a cancel "
                      "repeated cancels once)")


def _order_id(call: Call) -> int:
    raw = call.path["order_id"]
    if not raw.isdigit() or len(raw) > 19:
        raise OrderNotFound("no order of yours has this id", field="id")
    return int(raw)


routes = Routes()


@routes.route("POST", "/v1/orders", summary="place an order: the funds it may need are held",
              tag="trading", auth="trade", body=NEW_ORDER,
              responses={202: ("accepted; the matcher fills it in sequence", ORDER),
                         404: ("no such market", None), 409: ("market halted", None),
                         422: ("insufficient funds", None),
                         503: ("outcome_unknown: placed or not, the database did not say "
                               "(send it again with the same client_order_id); "
                               "service_unavailable: not placed", None)})


def place_order(services: Services, call: Call) -> dict:
    order, _ = services.batcher.place(call.user_id, call.body)
    return order


@routes.route("GET", "/v1/orders", summary="the caller's orders, newest first", tag="trading",
              auth="read", query={"status": STATUS, "market": MARKET, "limit": LIMIT,
                                  "cursor": CURSOR},
              responses={200: ("a page of orders", page_of(ORDER))})


def list_orders(services: Services, call: Call) -> dict:
    status = call.query.get("status")
    if status in statuses.ACTIVE:
        # What bots poll (their open orders): prepared statements, views kept.
        shown = order_reads.shown(services.reader, order_reads.active_newest_first(
            call.user_id, status, call.query.get("market"),
            int(call.query["cursor"]) if "cursor" in call.query else None,
            call.query["limit"] + 1), views.kept_view, lambda row: _scales(services, row))
        return page(shown, call, lambda view: view, lambda view: view["id"])
    query = newest_first(select(orders).where(orders.c.user_id == call.user_id),
                         orders.c.id, call)
    for name in ("status", "market"):
        if name in call.query:
            query = query.where(orders.c[name] == call.query[name])
    with services.reader.connect() as conn:
        rows = conn.execute(query).all()
        known = scales(conn, {code for r in rows for code in r.market.split("-")})
    return page(rows, call, lambda r: views.view(r, known))


@routes.route("GET", "/v1/orders/{order_id}", summary="one of the caller's orders",
              tag="trading", auth="read",
              responses={200: ("the order", ORDER), 404: ("no such order", None)})


def get_order(services: Services, call: Call) -> dict:
    shown = order_reads.shown(services.reader, order_reads.one(call.user_id, _order_id(call)),
                              views.kept_view, lambda row: _scales(services, row))
    if not shown:
        raise OrderNotFound("no order of yours has this id", field="id")
    return shown[0]


def _scales(services: Services, row: Any) -> dict[str, int]:
    """The scales of an order's base and quote, to make its view."""
    return scales_of(services.reader, row.market.split("-"))


@routes.route("DELETE", "/v1/orders/{order_id}", summary="cancel an order (in sequence)",
              tag="trading", auth="trade",
              responses={202: ("the cancel is queued", ORDER), 404: ("no such order", None),
                         409: ("the order is no longer open", None),
                         503: ("outcome_unknown: send the cancel again", None)})


def cancel_order(services: Services, call: Call) -> dict:
    with outcomes.transaction(services.engine, CANCEL_UNCONFIRMED) as conn:
        order = matcher_requests.request_cancel(conn, call.user_id, _order_id(call))
    services.wake(order["market"])
    return order


@routes.route("DELETE", "/v1/orders", summary="cancel all the caller's orders in a market",
              tag="trading", auth="trade", query={"market": MARKET},
              responses={202: ("the cancels are queued", obj(cancelling={"type": "integer"})),
                         503: ("outcome_unknown: send the cancel again", None)})


def cancel_all(services: Services, call: Call) -> dict:
    if "market" not in call.query:
        raise InvalidOrder("name the market: DELETE /v1/orders?market=BTC-USDT",
                           field="market")
    with outcomes.transaction(services.engine, CANCEL_UNCONFIRMED) as conn:
        count = len(matcher_requests.request_cancel_all(conn, call.user_id,
                                                        call.query["market"]))
    if count:
        services.wake(call.query["market"])
    return {"cancelling": count}


@routes.route("GET", "/v1/fills", summary="the caller's fills, with fee and liquidity",
              tag="trading", auth="read",
              query={"market": MARKET, "limit": LIMIT, "cursor": CURSOR},
              responses={200: ("a page of fills", page_of(FILL))})


def list_fills(services: Services, call: Call) -> dict:
    query = newest_first(select(fills).where(fills.c.user_id == call.user_id),
                         fills.c.id, call)
    if "market" in call.query:
        query = query.where(fills.c.market == call.query["market"])
    with services.reader.connect() as conn:
        rows = conn.execute(query).all()
        known = scales(conn, {code for r in rows for code in r.market.split("-")})
    return page(rows, call, lambda r: views.fill_view(r, known))
