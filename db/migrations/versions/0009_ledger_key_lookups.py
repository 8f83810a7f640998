"""The ledger's entry trigger looks rows up by key only: never by scanning a table.

PL/pgSQL plans the trigger's parameterless queries once per connection and keeps the
plan. A plan made while the ledger was small may scan ``transfers`` or ``entries``
whole, and a pooled connection would go on doing so as they grow: a cost per posting
that rises with the ledger's history. Index lookups are right at every size.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER FUNCTION ledger_apply_entries() SET enable_seqscan = off")


def downgrade() -> None:
    op.execute("ALTER FUNCTION ledger_apply_entries() RESET enable_seqscan")
