"""Candles keep their taker-buy volumes: the part of the volume whose taker bought.

Binance's klines carry them ("taker buy base/quote asset volume"); a bot reads the
pressure of buyers from them. Each is exact like the candle's own: the base quantity,
and the sum of price x quantity, unrounded.

The candles written so far get theirs from the trades, bucketed as the matcher buckets
them (a trade's candle is the interval, aligned to the Unix epoch, that holds its
``created_at``: the matcher writes both from the batch's time). A candle is filled in
only where the trades of its interval are exactly the ones it counted (same number,
volume and quote volume). One that counts fewer, as a candle begun while trades already
existed before candles were kept (0005) may, keeps 0: its own trades cannot be told
from the others, and 0 claims no buying that may not have been its own. The migration
then checks that every candle's taker-buy volumes lie within its volumes, and that the
application's role (the matcher's) may write them.

The application's role holds SELECT, INSERT and UPDATE on the whole table (0005), so the
new columns are its to write with no grant of their own.

Revision ID: 0023
Revises: 0021
"""
from alembic import context, op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# The matcher's intervals (matcher.candles.INTERVALS) as they are at this revision.
WIDTHS = {"1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes", "1h": "1 hour",
          "4h": "4 hours", "1d": "1 day"}
EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
COLUMNS = ("taker_buy_volume", "taker_buy_quote_volume")


def _backfill() -> str:
    widths = ", ".join(f"('{name}', INTERVAL '{width}')" for name, width in WIDTHS.items())
    # date_bin: exact to the microsecond, and a day is 24 hours (as in matcher.candles).
    return f"""
UPDATE candles c
   SET taker_buy_volume = b.taker_buy_volume,
       taker_buy_quote_volume = b.taker_buy_quote_volume
  FROM (SELECT t.market, i.interval, date_bin(i.width, t.created_at, {EPOCH}) AS start,
               count(*) AS trades, sum(t.quantity) AS volume,
               sum(t.price * t.quantity) AS quote_volume,
               coalesce(sum(t.quantity) FILTER (WHERE t.taker_side = 'buy'), 0)
                   AS taker_buy_volume,
               coalesce(sum(t.price * t.quantity) FILTER (WHERE t.taker_side = 'buy'), 0)
                   AS taker_buy_quote_volume
          FROM trades t CROSS JOIN (VALUES {widths}) AS i(interval, width)
         GROUP BY 1, 2, 3) AS b
 WHERE (c.market, c.interval, c.start) = (b.market, b.interval, b.start)
   AND (c.trades, c.volume, c.quote_volume) = (b.trades, b.volume, b.quote_volume);
"""


def _verify(role: str) -> str:
    """Fails the migration if a candle's taker-buy volumes exceed its volumes, or if the
    application's role may not write them."""
    checks = " OR ".join(f"NOT has_column_privilege('{role}', 'candles', '{column}', "
                         f"'{privilege}')" for column in COLUMNS
                         for privilege in ("SELECT", "INSERT", "UPDATE"))
    return f"""
DO $$
DECLARE
    bad record;
BEGIN
    SELECT market, interval, start INTO bad FROM candles
     WHERE taker_buy_volume NOT BETWEEN 0 AND volume
        OR taker_buy_quote_volume NOT BETWEEN 0 AND quote_volume
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'candle % % % has more taker-buy volume than volume',
            bad.market, bad.interval, bad.start;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') AND ({checks}) THEN
        RAISE EXCEPTION 'role % may not read and write the candles'' taker-buy volumes',
            '{role}';
    END IF;
END $$;
"""


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute("""
ALTER TABLE candles
    ADD COLUMN taker_buy_volume numeric NOT NULL DEFAULT 0,          -- base
    ADD COLUMN taker_buy_quote_volume numeric NOT NULL DEFAULT 0;    -- exact notional
""")
    op.execute(_backfill())
    op.execute(_verify(role))


def downgrade() -> None:
    op.execute("ALTER TABLE candles DROP COLUMN taker_buy_volume, "
               "DROP COLUMN taker_buy_quote_volume")
