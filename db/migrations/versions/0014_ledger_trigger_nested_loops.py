"""The ledger's entry trigger joins by nested loops over index lookups, whatever the batch.

PL/pgSQL plans a trigger's queries on first use and keeps the plans for the session. A
plan made for a large first statement (a matcher batch of a few hundred entries) joins
the new entries to ``accounts`` by hashing or merging, which reads every account (and,
with sequential scans off, does so through the whole primary key) on every later
posting, however few its entries. Every join in the trigger is by key, so it is told to
use nested loops only.

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SETTINGS = ("enable_hashjoin", "enable_mergejoin")


def upgrade() -> None:
    for setting in SETTINGS:
        op.execute(f"ALTER FUNCTION ledger_apply_entries() SET {setting} = off")


def downgrade() -> None:
    for setting in SETTINGS:
        op.execute(f"ALTER FUNCTION ledger_apply_entries() RESET {setting}")
