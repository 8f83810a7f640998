"""The simulated chain's own tables: the outside world of demo and test currencies.

These rows stand for a blockchain, not for our books: nothing here is money the
exchange owes. Deposits and withdrawals reach the ledger through transfers only.

Revision ID: 0002
Revises: 0001
"""
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE simulated_chain_heights (
    currency        text PRIMARY KEY REFERENCES currencies,
    height          bigint NOT NULL DEFAULT 0 CHECK (height >= 0)
);
CREATE TABLE simulated_chain_addresses (
    address         text PRIMARY KEY,
    currency        text NOT NULL REFERENCES currencies,
    label           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE simulated_chain_transactions (
    txid            text NOT NULL,
    output_index    integer NOT NULL DEFAULT 0,
    currency        text NOT NULL REFERENCES currencies,
    to_address      text NOT NULL,
    amount          numeric NOT NULL CHECK (amount > 0),
    outgoing        boolean NOT NULL,
    label           text,           -- a send's withdrawal id, recorded before broadcast
    block_height    bigint,         -- NULL while in the mempool
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txid, output_index)
);
CREATE UNIQUE INDEX simulated_chain_sends_by_label
    ON simulated_chain_transactions (currency, label) WHERE outgoing;
CREATE INDEX simulated_chain_incoming
    ON simulated_chain_transactions (currency, to_address) WHERE NOT outgoing;
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE ON simulated_chain_heights, simulated_chain_addresses,
            simulated_chain_transactions TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("DROP TABLE simulated_chain_transactions, simulated_chain_addresses, "
               "simulated_chain_heights")
