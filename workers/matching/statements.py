"""The matcher's SQL: a batch's reads and writes, each a prepared statement (see
``db.round_trips``), sent so that a batch takes three round trips whatever its size."""

from __future__ import annotations

from sqlalchemy import text
from db import round_trips


# The trades (each with its ledger transfer, found by its key), their fills (two per
# trade, found by that transfer) and the market's state, in one statement. The book's
# sequence moves with every batch, from the value this runner's book was built on or
# last wrote: if another runner wrote the market meanwhile, NULL breaks the column's
# NOT NULL and the batch is void (see ``StaleBook``). The last price and trade move only
# with trades.
FILL_COLUMNS = ("transfer_key", "user_id", "order_id", "side", "price", "quantity", "fee",
                 "liquidity")


INSERT_TRADES_AND_STATE = round_trips.Prepared("matcher_insert_trades", text("""
    WITH new_trades AS (
        INSERT INTO trades (market, price, quantity, taker_side, maker_order_id,
                            taker_order_id, transfer_id, created_at)
        SELECT :market, t.price, t.quantity, t.taker_side, t.maker_order_id,
               t.taker_order_id, tr.id, :now
          FROM unnest(CAST(:price AS numeric[]), CAST(:quantity AS numeric[]),
                      CAST(:taker_side AS text[]), CAST(:maker_order_id AS bigint[]),
                      CAST(:taker_order_id AS bigint[]), CAST(:transfer_key AS text[]))
               WITH ORDINALITY AS t(price, quantity, taker_side, maker_order_id,
                                    taker_order_id, transfer_key, n)
          JOIN transfers tr ON tr.idempotency_key = t.transfer_key
         ORDER BY t.n
        RETURNING id, transfer_id),
    new_fills AS (
        INSERT INTO fills (trade_id, user_id, order_id, market, side, price, quantity, fee,
                           fee_currency, liquidity, created_at)
        SELECT t.id, f.user_id, f.order_id, :market, f.side, f.price, f.quantity, f.fee,
               :fee_currency, f.liquidity, :now
          FROM unnest(CAST(:fill_transfer_key AS text[]), CAST(:fill_user_id AS bigint[]),
                      CAST(:fill_order_id AS bigint[]), CAST(:fill_side AS text[]),
                      CAST(:fill_price AS numeric[]), CAST(:fill_quantity AS numeric[]),
                      CAST(:fill_fee AS numeric[]), CAST(:fill_liquidity AS text[]))
               WITH ORDINALITY AS f(transfer_key, user_id, order_id, side, price, quantity,
                                    fee, liquidity, n)
          JOIN transfers tr ON tr.idempotency_key = f.transfer_key
          JOIN new_trades t ON t.transfer_id = tr.id
         ORDER BY f.n)
    INSERT INTO market_state (market, last_price, last_trade_id, book_sequence)
    VALUES (:market, CAST(:last_price AS numeric), (SELECT max(id) FROM new_trades),
            :book_sequence)
    ON CONFLICT (market) DO UPDATE
    SET last_price = coalesce(EXCLUDED.last_price, market_state.last_price),
        last_trade_id = coalesce(EXCLUDED.last_trade_id, market_state.last_trade_id),
        book_sequence = CASE WHEN market_state.book_sequence = :book_sequence_before
                             THEN EXCLUDED.book_sequence END"""),
    market="text", now="timestamptz", fee_currency="text", book_sequence="bigint",
    book_sequence_before="bigint")


UPDATE_ORDERS = round_trips.Prepared("matcher_update_orders", text("""
    UPDATE orders o SET status = u.status, reject_reason = u.reason,
           filled_quantity = u.filled_quantity, filled_notional = u.filled_notional,
           fee_paid = u.fee_paid, fee_accrued = u.fee_accrued,
           hold_remaining = u.hold_remaining,
           triggered_at = u.triggered_at, priority = coalesce(u.priority, o.priority),
           updated_at = now()
      FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                  CAST(:reasons AS text[]), CAST(:filled AS numeric[]),
                  CAST(:notional AS numeric[]), CAST(:fees AS numeric[]),
                  CAST(:accrued AS numeric[]), CAST(:holds AS numeric[]),
                  CAST(:triggered AS timestamptz[]), CAST(:priorities AS bigint[]))
           AS u(id, status, reason, filled_quantity, filled_notional, fee_paid,
                fee_accrued, hold_remaining, triggered_at, priority)
     WHERE o.id = u.id"""))


# A batch's trades in every interval's candle: one row per interval.
UPSERT_CANDLES = round_trips.Prepared("matcher_upsert_candles", text("""
    INSERT INTO candles (market, interval, start, open, high, low, close, volume,
                         quote_volume, taker_buy_volume, taker_buy_quote_volume, trades)
    SELECT :candle_market, i.interval, i.start, :candle_open, :candle_high, :candle_low,
           :candle_close, :candle_volume, :candle_quote_volume, :candle_taker_buy_volume,
           :candle_taker_buy_quote_volume, :candle_trades
      FROM unnest(CAST(:candle_interval AS text[]), CAST(:candle_start AS timestamptz[]))
           AS i(interval, start)
    ON CONFLICT (market, interval, start) DO UPDATE
    SET high = greatest(candles.high, EXCLUDED.high), low = least(candles.low, EXCLUDED.low),
        close = EXCLUDED.close, volume = candles.volume + EXCLUDED.volume,
        quote_volume = candles.quote_volume + EXCLUDED.quote_volume,
        taker_buy_volume = candles.taker_buy_volume + EXCLUDED.taker_buy_volume,
        taker_buy_quote_volume = candles.taker_buy_quote_volume
                                 + EXCLUDED.taker_buy_quote_volume,
        trades = candles.trades + EXCLUDED.trades"""),
    candle_market="text", candle_open="numeric", candle_high="numeric", candle_low="numeric",
    candle_close="numeric", candle_volume="numeric", candle_quote_volume="numeric",
    candle_taker_buy_volume="numeric", candle_taker_buy_quote_volume="numeric",
    candle_trades="integer")


# A batch's transaction is the runner's own (its connection in autocommit mode): it
# begins with reading the market, claims its requests (marking them processed at the
# batch's time, the one it matches at, so a replay can match at it too; only requests
# still pending are claimed, so even two leaders at once could not apply work twice)
# and reads their new orders in the same statement, and sends every write with
# the commit in one round trip, so that the traders' accounts stay locked only while the
# server works. An order and its request share their sequence number.
BEGIN_AND_READ_MARKET = round_trips.joined("BEGIN", round_trips.Prepared(
    "matcher_read_market", text("""
    SELECT m.*, q.scale AS quote_scale FROM markets m JOIN currencies q ON q.code = m.quote
     WHERE m.symbol = :market"""), market="text"))


CLAIM_REQUESTS = round_trips.joined(round_trips.Prepared("matcher_claim_requests", text("""
    WITH claimed AS (
        UPDATE matcher_requests SET processed_at = :now
         WHERE sequence IN (SELECT sequence FROM matcher_requests
                             WHERE market = :market AND processed_at IS NULL
                             ORDER BY sequence LIMIT :limit FOR UPDATE)
        RETURNING sequence, kind, order_id, created_at)
    SELECT c.sequence, c.kind, c.order_id, c.created_at, o.id, o.user_id, o.side, o.type,
           o.time_in_force, o.price, o.stop_price, o.quantity, o.post_only, o.expire_at,
           o.status, o.reject_reason, o.hold_currency, o.hold_remaining, o.filled_quantity,
           o.filled_notional, o.fee_paid, o.fee_accrued, o.triggered_at
      FROM claimed c LEFT JOIN orders o ON c.kind = 'order' AND o.id = c.order_id
     ORDER BY c.sequence"""), market="text", limit="integer", now="timestamptz"))


# Before the ledger's: the orders' states and the candles; after it (the trades join their
# transfers by key): the trades, their fills and the market's state, then the commit.
BEFORE_TRANSFERS = {"orders": UPDATE_ORDERS, "candles": UPSERT_CANDLES}


AFTER_TRANSFERS = (INSERT_TRADES_AND_STATE, "COMMIT")
