"""Proof of liabilities: published snapshots of users' balances per currency.

Revision ID: 0006
Revises: 0005
"""
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE liability_snapshots (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency        text NOT NULL REFERENCES currencies,
    salt            text NOT NULL,              -- makes this snapshot's leaf ids its own
    root_hash       text NOT NULL,
    total           numeric NOT NULL CHECK (total >= 0),
    users           integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE liability_leaves (
    snapshot_id     bigint NOT NULL REFERENCES liability_snapshots,
    position        integer NOT NULL,
    user_id         bigint NOT NULL REFERENCES users,
    balance         numeric NOT NULL CHECK (balance >= 0),
    PRIMARY KEY (snapshot_id, position),
    UNIQUE (snapshot_id, user_id)
);
CREATE TRIGGER liability_snapshots_append_only BEFORE UPDATE OR DELETE ON liability_snapshots
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER liability_leaves_append_only BEFORE UPDATE OR DELETE ON liability_leaves
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT ON liability_snapshots, liability_leaves TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("DROP TABLE liability_leaves, liability_snapshots")
