"""The tables that every order writes are analyzed after 100,000 changed rows, not 50.

Autovacuum analyzes a table once its changed rows pass 50 plus 10 % of its size. The
tables that each order writes (several rows apiece) passed that at every look (every
5 s here, see ``embedded.postgres``) while they were young, and ``accounts`` (a few
hundred rows, each updated by every posting) always does. Each ANALYZE samples and
sorts up to 30,000 rows, and then every session plans again the statements that name
the table. Under ``bench.trading`` this was about a tenth of PostgreSQL's CPU and showed
in the p99 of accept latency. Their hot statements find rows by key with plans made
once; statistics a few seconds older steer nothing. Vacuuming is unchanged.

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("accounts", "transfers", "entries", "orders", "matcher_requests", "trades",
          "fills", "market_state", "candles")
CHANGED_ROWS = 100_000


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (autovacuum_analyze_threshold = {CHANGED_ROWS})")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (autovacuum_analyze_threshold)")
