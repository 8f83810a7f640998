"""Order entry takes its orders' ids from their sequence before inserting them.

A batch of orders then goes in with its holds and the commit in one round trip (see
``matcher.orders.place_many``): the holds' transfers name their orders, so the ids must
be known before the rows exist. The ids still come from the column's own sequence.

Revision ID: 0011
Revises: 0010
"""
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _grant(statement: str) -> None:
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        EXECUTE format('{statement}', pg_get_serial_sequence('orders', 'id'), '{role}');
    END IF;
END $$;
""")


def upgrade() -> None:
    _grant("GRANT USAGE ON SEQUENCE %s TO %I")


def downgrade() -> None:
    _grant("REVOKE USAGE ON SEQUENCE %s FROM %I")
