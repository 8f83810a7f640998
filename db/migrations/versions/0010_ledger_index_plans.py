"""The ledger's trigger functions plan their lookups as index scans whatever the tables' size.

PL/pgSQL keeps a function's plans for the life of the connection (until the tables'
statistics change). A small table is planned as a sequential scan, which is right
while it is small; but ``accounts`` stays small while each posting rewrites its rows,
so a scan walks every dead version of every balance, and ``entries`` and
``transfers`` grow under plans cached when they were empty. Measured under
``bench.trading``, such scans were about half of PostgreSQL's CPU. Every query in
these functions reads rows by key (or the statement's own new entries), so the
planner is told not to scan whole tables in them.

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FUNCTIONS = ("ledger_apply_entries()", "transfers_require_entries()")


def upgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} SET enable_seqscan = off")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} RESET enable_seqscan")
