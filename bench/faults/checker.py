"""What must hold after the faults, checked from the clients' history, the database and
the chain; each failure is an anomaly of a named kind, with examples.

    order_lost            acknowledged, not in the database
    order_twice           one client order id, two orders
    order_unsent          an order of our traders that no client sent
    order_unprocessed     still waiting for the matcher after the system settled
    trades_differ         the market's trades are not a replay of its processed requests
    ledger:<kind>         a reconcile() discrepancy (holds included: ``holds_differ``)
    negative_read         a reader saw a negative balance
    withdrawal_lost / withdrawal_twice / payment_unbacked / payment_twice / payment_missing
    deposit_twice / deposit_early / deposit_missing
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, text

from bench.faults.chains import Chain
from bench.faults.history import History
from ledger.reconcile import reconcile
from matcher.book import Book, MarketRules, Trade
from workers.matching.rows import core_order

EXAMPLES_MAX = 3


class Anomalies:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, example: Any) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES_MAX:
            self.examples[kind].append(str(example)[:300])


def check(engine: Engine, history: History, user_ids: list[int],
          deposit_addresses: list[str], chains: tuple[Chain, ...] = ()) -> Anomalies:
    found = Anomalies()
    _orders(engine, history, user_ids, found)
    _trades(engine, found)
    for discrepancy in reconcile(engine):
        found.add(f"ledger:{discrepancy.kind}", discrepancy)
    for client, balance in history.negative_reads:
        found.add("negative_read", (client, balance))
    _withdrawals(engine, history, user_ids, found)
    _deposits(engine, deposit_addresses, found)
    for chain in chains:
        _chain(engine, chain, found)
    return found


def _client_order_id(request: dict[str, Any]) -> str:
    return request.get("client_order_id") or request["newClientOrderId"]


def _orders(engine: Engine, history: History, user_ids: list[int], found: Anomalies) -> None:
    sent, acknowledged = set(), set()
    for record in history.of("place_native") + history.of("place_binance"):
        cid = _client_order_id(record.request)
        sent.add(cid)
        if record.status is not None and 200 <= record.status < 300:
            acknowledged.add(cid)
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT client_order_id, count(*) AS n, min(status) AS status FROM orders
             WHERE user_id = ANY(:users) GROUP BY client_order_id"""),
            {"users": user_ids}).all()
    in_database = {row.client_order_id: row for row in rows}
    for cid in acknowledged - set(in_database):
        found.add("order_lost", cid)
    for cid, row in in_database.items():
        if cid not in sent:
            found.add("order_unsent", cid)
        if row.n > 1:
            found.add("order_twice", cid)
        if row.status == "accepted":
            found.add("order_unprocessed", cid)


def _trades(engine: Engine, found: Anomalies) -> None:
    with engine.connect() as conn:
        for symbol in conn.execute(text("SELECT symbol FROM markets ORDER BY symbol")).scalars():
            recorded, replayed = recorded_trades(conn, symbol), replay(conn, symbol)
            if recorded != replayed:
                first = next((i for i, (a, b) in enumerate(zip(recorded, replayed)) if a != b),
                             min(len(recorded), len(replayed)))
                found.add("trades_differ", f"{symbol}: {len(recorded)} trades, replay "
                          f"{len(replayed)}, first difference at {first}")


def recorded_trades(conn: Any, symbol: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT maker_order_id, taker_order_id, price, quantity FROM trades "
        "WHERE market = :m ORDER BY id"), {"m": symbol})]


def replay(conn: Any, symbol: str) -> list[tuple]:
    """The trades a fresh core gives for the market's processed requests in the order the
    matcher processed them, each at its batch's time (``processed_at``, the time the
    batch matched at): batch after batch (one leader's batches follow one another), in
    sequence within a batch. Not in sequence alone: a request numbered before another
    can commit after it (two web processes place at once) and is then processed in a
    later batch."""
    market = conn.execute(text(
        "SELECT m.taker_fee_bps, m.lot_size, c.scale FROM markets m "
        "JOIN currencies c ON c.code = m.quote WHERE m.symbol = :m"), {"m": symbol}).one()
    requests = conn.execute(text(
        "SELECT sequence, kind, order_id, processed_at FROM matcher_requests "
        "WHERE market = :m AND processed_at IS NOT NULL ORDER BY processed_at, sequence"),
        {"m": symbol}).all()
    rows = {row.id: row for row in conn.execute(text(
        "SELECT * FROM orders WHERE market = :m"), {"m": symbol})}
    book = Book(MarketRules(taker_fee_bps=market.taker_fee_bps, quote_scale=market.scale,
                            lot_size=market.lot_size))
    trades: list[tuple] = []
    for request in requests:
        if request.kind == "order":
            row = rows[request.order_id]
            fresh = dict(row._mapping) | {"filled_quantity": Decimal(0), "triggered_at": None,
                                          "hold_remaining": row.hold_amount}
            events = book.submit(core_order(SimpleNamespace(**fresh)), request.processed_at)
        else:
            events = book.cancel(request.order_id,
                                 "expired" if request.kind == "expire" else "cancelled")
        trades += [(e.maker_order_id, e.taker_order_id, e.price, e.quantity) for e in events
                   if isinstance(e, Trade)]
    return trades


def _withdrawals(engine: Engine, history: History, user_ids: list[int],
                 found: Anomalies) -> None:
    acknowledged = {r.request["key"] for r in history.of("withdraw")
                    if r.status is not None and 200 <= r.status < 300}
    with engine.connect() as conn:
        keys = Counter(row.idempotency_key for row in conn.execute(text(
            "SELECT idempotency_key FROM withdrawals WHERE user_id = ANY(:u)"),
            {"u": user_ids}))
        payments = conn.execute(text("""
            SELECT t.label, count(*) AS n, sum(t.amount) AS paid, min(w.status) AS status,
                   min(w.amount) AS amount
              FROM simulated_chain_transactions t
              LEFT JOIN withdrawals w ON 'withdrawal:' || w.id::text = t.label
             WHERE t.outgoing GROUP BY t.label""")).all()
        sent = conn.execute(text("""
            SELECT w.id FROM withdrawals w JOIN currencies c ON c.code = w.currency
             WHERE w.status IN ('sent', 'confirmed') AND c.driver = 'simulated'
               AND NOT EXISTS (SELECT 1 FROM simulated_chain_transactions t
                                WHERE t.outgoing AND t.label = 'withdrawal:' || w.id::text)""")).all()
    for key in acknowledged - set(keys):
        found.add("withdrawal_lost", key)
    for key, count in keys.items():
        if count > 1:
            found.add("withdrawal_twice", key)
    for payment in payments:
        if payment.status not in ("sent", "confirmed") or payment.paid != payment.amount:
            found.add("payment_unbacked", payment)
        if payment.n > 1:
            found.add("payment_twice", payment)
    for row in sent:
        found.add("payment_missing", row.id)


def _deposits(engine: Engine, addresses: list[str], found: Anomalies) -> None:
    """Every payment to our traders' deposit addresses deep enough is credited once, and
    none before its confirmations."""
    with engine.connect() as conn:
        payments = conn.execute(text("""
            SELECT t.txid, t.output_index, t.currency, c.confirmations AS needed,
                   CASE WHEN t.block_height IS NULL THEN 0 ELSE
                        (SELECT h.height FROM simulated_chain_heights h
                          WHERE h.currency = t.currency) - t.block_height + 1 END AS depth,
                   (SELECT count(*) FROM deposits d WHERE d.txid = t.txid
                       AND d.output_index = t.output_index AND d.status = 'credited') AS credits,
                   (SELECT min(d.confirmations) FROM deposits d WHERE d.txid = t.txid
                       AND d.status = 'credited') AS credited_at
              FROM simulated_chain_transactions t JOIN currencies c ON c.code = t.currency
             WHERE NOT t.outgoing AND t.to_address = ANY(:a)"""), {"a": addresses}).all()
    for payment in payments:
        if payment.credits > 1:
            found.add("deposit_twice", payment.txid)
        if payment.credits and payment.credited_at < payment.needed:
            found.add("deposit_early", payment.txid)
        if not payment.credits and payment.depth > payment.needed:
            found.add("deposit_missing", payment)


def _chain(engine: Engine, chain: Chain, found: Anomalies) -> None:
    """On a real chain: every payment to a trader credited once, and only deep enough;
    every send of our wallet is a debited withdrawal's, once, for its amount; every
    withdrawal sent has its send."""
    with engine.connect() as conn:
        credits = Counter(row.txid for row in conn.execute(text(
            "SELECT txid FROM deposits WHERE currency = :c AND status = 'credited'"),
            {"c": chain.code}))
        withdrawals = {str(row.id): row for row in conn.execute(text(
            "SELECT id, amount, status, txid FROM withdrawals WHERE currency = :c"),
            {"c": chain.code})}
    depth = chain.confirmations({txid for txid, _, _ in chain.paid})
    for txid, confirmations in depth.items():
        if credits[txid] > 1:
            found.add("deposit_twice", (chain.code, txid))
        if credits[txid] and confirmations < chain.confirmations_needed:
            found.add("deposit_early", (chain.code, txid, confirmations))
        if not credits[txid] and confirmations > chain.confirmations_needed:
            found.add("deposit_missing", (chain.code, txid, confirmations))
    for txid in set(credits) - set(depth):
        found.add("deposit_unpaid", (chain.code, txid))
    by_txid = {w.txid: w_id for w_id, w in withdrawals.items() if w.txid}
    paid_for: Counter[str | None] = Counter()
    for send in chain.sends(engine):
        withdrawal_id = send.withdrawal_id or by_txid.get(send.txid)
        withdrawal = withdrawals.get(str(withdrawal_id))
        if withdrawal is None or withdrawal.status not in ("sent", "confirmed") \
                or send.amount != withdrawal.amount or withdrawal.txid != send.txid:
            found.add("payment_unbacked", (chain.code, send))
        paid_for[withdrawal_id] += 1
    for withdrawal_id, count in paid_for.items():
        if withdrawal_id is not None and count > 1:
            found.add("payment_twice", (chain.code, withdrawal_id))
    for withdrawal_id, withdrawal in withdrawals.items():
        if withdrawal.status in ("sent", "confirmed") and not paid_for[withdrawal_id]:
            found.add("payment_missing", (chain.code, withdrawal_id))
