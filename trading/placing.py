"""Placing orders: validate everything that needs no book, then insert and hold in one go.

In one transaction: the order row, its request to the matcher (one global sequence
number for both) and the ledger transfer that holds what the order may need.
Insufficient funds is decided there on balances read under the user's lock,
race-free, and the ledger checks it again. Orders can be placed in batches (one transaction, a few
statements whatever their number): each is still decided alone, in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from db import outcomes, round_trips
from db.errors import CommitOutcomeUnknown
from db.schema import orders
from ledger import AccountKind, LedgerError, account, move
from ledger.scales import market_scales
from ledger.transfers import Transfer, post_new
from money import AmountError
from trading import rules
from trading.errors import InvalidOrder, OrderError, ReservedIdTaken
from matcher.statuses import ACTIVE
from trading.views import view


# A batch takes two round trips, whatever its size. The first locks the users' rows, in
# id order (serialising each user's entries across batches and processes; NO KEY UPDATE,
# because the matcher's inserts of fills take KEY SHARE on them and FOR UPDATE would
# deadlock with the account locks a batch holds). Then, in a new statement (so a new
# snapshot: it sees every order committed before the locks were granted), all that the
# decisions need, in one row: the markets named, each user's open orders, the earlier
# orders with the batch's client_order_ids or with the ids a failed attempt took for its
# orders (``Placement.reserved_id``: the attempt may have committed), the available
# balances (each found by its key: a join let the generic plan scan every available
# account), and for each order an id and a sequence number. A committed attempt held the
# users' locks until its commit: once they are granted, its orders are there to be seen.
_LOCK_USERS = round_trips.Prepared("placing_lock_users", text("""
    SELECT count(*) FROM (SELECT id FROM users WHERE id = ANY(:users) ORDER BY id
                          FOR NO KEY UPDATE) AS locked"""), users="bigint[]")
_AFTER_LOCKS = round_trips.Prepared("placing_after_locks", text(f"""
    SELECT (SELECT coalesce(json_agg(json_build_object(
                'symbol', m.symbol, 'base', m.base, 'quote', m.quote,
                'tick_size', m.tick_size::text, 'lot_size', m.lot_size::text,
                'min_notional', m.min_notional::text, 'maker_fee_bps', m.maker_fee_bps,
                'taker_fee_bps', m.taker_fee_bps, 'status', m.status, 'base_scale', b.scale,
                'quote_scale', q.scale, 'last_price', s.last_price::text)), '[]')
              FROM markets m
              JOIN currencies b ON b.code = m.base
              JOIN currencies q ON q.code = m.quote
              LEFT JOIN market_state s ON s.market = m.symbol
             WHERE m.symbol = ANY(:symbols)) AS markets,
           (SELECT coalesce(json_object_agg(user_id, n), '{{}}') FROM (
                SELECT user_id, count(*) AS n FROM orders
                 WHERE user_id = ANY(:users) AND status IN {ACTIVE}
                 GROUP BY user_id) AS o) AS open_orders,
           ARRAY(SELECT o.id FROM orders o
                   JOIN unnest(CAST(:client_users AS bigint[]), CAST(:client_ids AS text[]))
                        AS c(user_id, client_id)
                     ON o.user_id = c.user_id AND o.client_order_id = c.client_id
                  UNION
                  SELECT o.id FROM orders o
                   WHERE o.id = ANY(CAST(:reserved AS bigint[]))) AS earlier,
           (SELECT coalesce(json_agg(json_build_array(w.user_id, w.currency, (
                        SELECT a.balance::text FROM accounts a
                         WHERE a.owner_user_id = w.user_id AND a.currency = w.currency
                           AND a.kind = 'available'))), '[]')
              FROM unnest(CAST(:balance_users AS bigint[]),
                          CAST(:balance_currencies AS text[])) AS w(user_id, currency)
           ) AS balances,
           ARRAY(SELECT nextval(pg_get_serial_sequence('orders', 'id'))
                   FROM generate_series(1, :orders)) AS ids,
           ARRAY(SELECT nextval('matcher_sequence') FROM generate_series(1, :orders))
               AS sequences,
           now() AS now"""), symbols="text[]", users="bigint[]", orders="integer")
# The second: the orders, their requests to the matcher (one sequence number for both)
# and their holds (ledger.post_new puts them in the same round trip), then the commit.
_INSERT_ORDERS = round_trips.Prepared("placing_insert_orders", text("""
    WITH new_orders AS (
        INSERT INTO orders (id, user_id, market, client_order_id, side, type, time_in_force,
                            price, stop_price, quantity, quote_quantity, post_only, expire_at,
                            status, hold_currency, hold_amount, hold_remaining, sequence)
        OVERRIDING SYSTEM VALUE
        SELECT i, u, m, c, sd, t, tif, p, sp, q, qq, po, ea, st, hc, h, h, seq
          FROM unnest(CAST(:id AS bigint[]), CAST(:user_id AS bigint[]),
                      CAST(:market AS text[]),
                      CAST(:client_order_id AS text[]), CAST(:side AS text[]),
                      CAST(:type AS text[]), CAST(:time_in_force AS text[]),
                      CAST(:price AS numeric[]), CAST(:stop_price AS numeric[]),
                      CAST(:quantity AS numeric[]), CAST(:quote_quantity AS numeric[]),
                      CAST(:post_only AS boolean[]), CAST(:expire_at AS timestamptz[]),
                      CAST(:status AS text[]), CAST(:hold_currency AS text[]),
                      CAST(:hold AS numeric[]), CAST(:sequence AS bigint[]))
               AS n(i, u, m, c, sd, t, tif, p, sp, q, qq, po, ea, st, hc, h, seq)
        RETURNING id, market, sequence)
    INSERT INTO matcher_requests (sequence, market, kind, order_id)
    SELECT sequence, market, 'order', id FROM new_orders"""))
_READ_SQL = {own: round_trips.joined(*(["BEGIN"] if own else []), _LOCK_USERS, _AFTER_LOCKS)
             for own in (False, True)}
_COLUMNS = ("id", "user_id", "market", "client_order_id", "side", "type", "time_in_force", "price",
            "stop_price", "quantity", "quote_quantity", "post_only", "expire_at", "status",
            "hold_currency", "hold", "sequence")


@dataclass
class Placement:
    """One order request of a batch, and what became of it: an order (``created`` False
    when an earlier order has its client_order_id) or an error that changed nothing.

    ``reserved_id`` is the id its order took in an attempt that sent its insert: it
    survives ``forget``, so that a retry finds the order if that attempt committed, and
    otherwise inserts it under the same id (never a second order, never a second hold).
    """

    user_id: int
    request: dict[str, Any]
    order: dict[str, Any] | None = None
    created: bool = False
    error: Exception | None = None
    values: dict[str, Any] = field(default_factory=dict)   # the row to insert
    same_as: Placement | None = None  # an earlier placement of the batch with its client id
    reserved_id: int | None = None

    def forget(self) -> None:
        """Back to undecided (its transaction rolled back, or perhaps committed: the
        reserved id stays)."""
        self.order, self.created, self.error, self.values, self.same_as = \
            None, False, None, {}, None


def place(conn: Connection, user_id: int, request: dict[str, Any], now: datetime
          ) -> tuple[dict[str, Any], bool]:
    """The order (new, or the earlier one with the same client_order_id) and whether it is
    new; a refusal is raised."""
    placement = Placement(user_id, request)
    place_many(conn, [placement], now)
    if placement.error is not None:
        raise placement.error
    assert placement.order is not None
    return placement.order, placement.created


def place_many(conn: Connection, placements: list[Placement], now: datetime | None = None,
               *, own_transaction: bool = False) -> None:
    """Place a batch, deciding each order in turn as if it came alone after the ones before
    it: validation, the open-order bound, the funds.

    In the caller's transaction; or, with ``own_transaction`` (``conn`` in autocommit
    mode), in one of its own that begins with the first round trip and commits with the
    second, so that the batch holds its users' accounts only while the server works.
    The funds are decided on the users' available balances read under their locks, so
    nothing else can spend them meanwhile; the ledger's non-negative balances check it
    again. An order refused sets its placement's error and changes nothing; an
    unexpected database error is raised (the batch's transaction is then void as a whole).
    ``now`` (validation's clock) defaults to the transaction's time.

    With ``own_transaction``, a failure of the round trip that ends in COMMIT that the
    server did not report as a rollback raises ``CommitOutcomeUnknown``: the batch may
    have committed. Placing the same placements again is safe: each one whose order an
    attempt committed finds it by its ``reserved_id`` (``created`` True), and the others
    are inserted under their reserved ids.
    """
    for placement in placements:
        placement.forget()
        client_id = placement.request.get("client_order_id")
        if client_id is not None and not rules.CLIENT_ORDER_ID.fullmatch(client_id):
            placement.error = InvalidOrder("client_order_id has 1 to 64 letters, digits or "
                                           "_ . : -", field="client_order_id")
    live = [p for p in placements if p.error is None]
    if not live:
        return
    try:
        _place_live(conn, live, now, own_transaction)
    except BaseException:
        if own_transaction:
            round_trips.rollback(conn)
        raise
    for placement in live:
        if placement.same_as is not None:
            placement.order = placement.same_as.order


def _place_live(conn: Connection, live: list[Placement], now: datetime | None,
                own_transaction: bool) -> None:
    users = sorted({p.user_id for p in live})
    client_keys = sorted({(p.user_id, p.request["client_order_id"]) for p in live
                          if p.request.get("client_order_id") is not None})
    wanted = sorted({(p.user_id, rules.hold_currency(p.request)) for p in live})
    found = round_trips.last_row(conn, _READ_SQL[own_transaction], {
        "users": users, "symbols": sorted({p.request["market"] for p in live}),
        "client_users": [k[0] for k in client_keys], "client_ids": [k[1] for k in client_keys],
        "balance_users": [k[0] for k in wanted], "balance_currencies": [k[1] for k in wanted],
        "reserved": sorted({p.reserved_id for p in live if p.reserved_id is not None}),
        "orders": len(live)})
    assert found is not None
    now = now or found.now
    markets = {m["symbol"]: rules.market_row(m) for m in found.markets}
    open_orders = {int(user): n for user, n in found.open_orders.items()}
    available = {(user, currency): Decimal(amount) for user, currency, amount in found.balances
                 if amount is not None}
    by_client, by_id = _earlier_orders(conn, found.earlier)
    claimed: dict[tuple[int, str | None], Placement] = {}
    for placement in live:
        key = (placement.user_id, placement.request.get("client_order_id"))
        reserved = placement.reserved_id
        row = (None if reserved is None else by_id.get(reserved)) or by_client.get(key)
        if row is not None:   # committed before: by an earlier request, or by this one
            placement.created = row.id == placement.reserved_id
            if placement.created and row.user_id != placement.user_id:
                raise ReservedIdTaken(f"order {row.id} is not this placement's")
            placement.order = view(row, _scales_of(markets, row.market) if row.market in
                                   markets else market_scales(conn, row.market))
            continue
        if key[1] is not None and key in claimed:
            placement.same_as = claimed[key]
            continue
        try:
            placement.values = rules.decide(placement.user_id, placement.request, markets,
                                            open_orders, available, now)
        except (OrderError, LedgerError, AmountError) as error:
            placement.error = error
            continue
        if key[1] is not None:
            claimed[key] = placement
    accepted = [p for p in live if p.values]
    holds = _holds(conn, accepted, sorted(found.ids), sorted(found.sequences))
    if accepted or own_transaction:
        try:
            post_new(conn, holds, {column: [p.values[column] for p in accepted]
                                   for column in _COLUMNS} if accepted else {},
                     before=(_INSERT_ORDERS,) if accepted else (),
                     after=("COMMIT",) if own_transaction else ())
        except DBAPIError as error:   # what post_new left untranslated: not the ledger's
            if accepted and own_transaction and not outcomes.rolled_back(error):
                raise CommitOutcomeUnknown("an order batch's COMMIT went unanswered") from error
            raise
    for placement in accepted:
        placement.order = view(_OrderRow(**placement.values, created_at=found.now,
                                         updated_at=found.now),
                               _scales_of(markets, placement.values["market"]))
        placement.created = True


def _earlier_orders(conn: Connection, ids: list[int]
                    ) -> tuple[dict[tuple[int, str | None], Any], dict[int, Any]]:
    """The earlier orders of the batch's retries: by (user, client_order_id), and by id."""
    if not ids:
        return {}, {}
    rows = conn.execute(select(orders).where(orders.c.id.in_(ids))).all()
    return ({(row.user_id, row.client_order_id): row for row in rows
             if row.client_order_id is not None}, {row.id: row for row in rows})


def _holds(conn: Connection, accepted: list[Placement], ids: list[int],
           sequences: list[int]) -> list[Transfer]:
    """The accepted orders' holds; each placement keeps its order's id from here on (an order
    that a failed attempt may have inserted goes in again under the same id, or not at
    all: the primary key and the hold's idempotency key refuse a second)."""
    holds, fresh = [], iter(ids)
    for placement, sequence in zip(accepted, sequences):
        if placement.reserved_id is None:
            placement.reserved_id = next(fresh)
        order_id, values = placement.reserved_id, placement.values
        values.update(id=order_id, sequence=sequence)
        user_id, currency = values["user_id"], values["hold_currency"]
        holds.append(move(f"hold:order:{order_id}", "order_hold",
                          account(conn, user_id, currency, AccountKind.AVAILABLE),
                          account(conn, user_id, currency, AccountKind.HELD),
                          values["hold"], f"order:{order_id}"))
    return holds


class _OrderRow:
    """A new order as its row reads back, for ``view``: what was inserted, and the
    columns' defaults."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values, reject_reason=None, filled_quantity=Decimal(0),
                             filled_notional=Decimal(0), fee_paid=Decimal(0),
                             hold_remaining=values["hold"])


def _scales_of(markets: dict[str, Any], symbol: str) -> dict[str, int]:
    found = markets[symbol]
    return {found.base: found.base_scale, found.quote: found.quote_scale}
