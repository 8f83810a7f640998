"""A withdrawal whose signed payment the node refused stays ``sending``, flagged for operators.

Its payment may be out, or may still go out (a signed transaction can be broadcast
by anyone who saw it), so its funds stay held and it is retried; the flag lists it
for an operator until an attempt finds it sent or proved refused. Only a withdrawal
that is ``sending`` can carry it: every way out of ``sending`` clears it.

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE withdrawals
    ADD COLUMN needs_attention boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT withdrawals_attention_only_while_sending
        CHECK (NOT needs_attention OR status = 'sending');
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_attention_only_while_sending,
    DROP COLUMN needs_attention;
""")
