"""The scheduler (application role) may halt a market when reconciliation finds a
difference; it may change nothing else about markets.

Revision ID: 0007
Revises: 0006
"""
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT UPDATE (status) ON markets TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute(f'REVOKE UPDATE (status) ON markets FROM "{role}"')
