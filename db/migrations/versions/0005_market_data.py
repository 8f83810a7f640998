"""Market data kept up to date by the matcher: candles, and the book's sequence.

Revision ID: 0005
Revises: 0004
"""
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE market_state ADD COLUMN book_sequence bigint NOT NULL DEFAULT 0;
ALTER TABLE market_state ALTER COLUMN last_price DROP NOT NULL;

CREATE TABLE candles (
    market          text NOT NULL REFERENCES markets,
    interval        text NOT NULL CHECK (interval IN ('1m', '5m', '15m', '1h', '4h', '1d')),
    start           timestamptz NOT NULL,
    open            numeric NOT NULL,
    high            numeric NOT NULL,
    low             numeric NOT NULL,
    close           numeric NOT NULL,
    volume          numeric NOT NULL,          -- base
    quote_volume    numeric NOT NULL,          -- exact notional
    trades          integer NOT NULL,
    PRIMARY KEY (market, interval, start)
);
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE ON candles TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("DROP TABLE candles; ALTER TABLE market_state DROP COLUMN book_sequence")
