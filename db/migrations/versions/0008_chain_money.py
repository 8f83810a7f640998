"""Deposits and withdrawals: addresses, what the chain paid us, what we pay out.

The tables record the chain's side and each request's state; money itself moves
only by ledger transfers, each posted in the same transaction as the state change
it belongs to (credited, held, sent, confirmed, returned).

Revision ID: 0008
Revises: 0007
"""
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE currencies
    ADD COLUMN withdrawal_fee           numeric NOT NULL DEFAULT 0 CHECK (withdrawal_fee >= 0),
    ADD COLUMN withdrawal_min           numeric NOT NULL DEFAULT 0 CHECK (withdrawal_min >= 0),
    ADD COLUMN withdrawal_max           numeric CHECK (withdrawal_max > 0),
    ADD COLUMN withdrawal_daily_max     numeric CHECK (withdrawal_daily_max > 0),
    ADD COLUMN withdrawal_approval_above numeric CHECK (withdrawal_approval_above >= 0),
    ADD COLUMN withdrawals_paused       boolean NOT NULL DEFAULT false;

-- Keys of drivers that hold them (ethereum): the index derives the key from the seed.
CREATE SEQUENCE wallet_key_index;
CREATE TABLE wallet_keys (
    address         text PRIMARY KEY,
    currency        text NOT NULL REFERENCES currencies,
    key_index       bigint NOT NULL UNIQUE,
    label           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX wallet_keys_one_hot_wallet ON wallet_keys (currency)
    WHERE label = 'hot-wallet';
-- Signed before broadcast, so that a retry sends the very same transaction.
CREATE TABLE wallet_sends (
    currency        text NOT NULL REFERENCES currencies,
    withdrawal_id   text NOT NULL,
    nonce           bigint NOT NULL,
    raw             text NOT NULL,
    txid            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, withdrawal_id),
    UNIQUE (currency, nonce)
);

CREATE TABLE deposit_addresses (
    currency        text NOT NULL REFERENCES currencies,
    address         text NOT NULL,
    user_id         bigint NOT NULL REFERENCES users,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, address)
);
CREATE UNIQUE INDEX deposit_addresses_one_per_user ON deposit_addresses (user_id, currency);

CREATE TABLE deposits (
    id              bigserial PRIMARY KEY,
    currency        text NOT NULL REFERENCES currencies,
    txid            text NOT NULL,
    output_index    integer NOT NULL,
    address         text NOT NULL,
    user_id         bigint NOT NULL REFERENCES users,
    amount          numeric NOT NULL CHECK (amount > 0),
    confirmations   integer NOT NULL CHECK (confirmations >= 0),
    block_height    bigint,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'credited')),
    transfer_id     bigint REFERENCES transfers,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    credited_at     timestamptz,
    UNIQUE (currency, txid, output_index),
    CHECK ((status = 'credited') = (transfer_id IS NOT NULL))
);
CREATE INDEX deposits_by_user ON deposits (user_id, id);
CREATE INDEX deposits_pending ON deposits (currency) WHERE status = 'pending';

CREATE TABLE deposit_scans (
    currency        text PRIMARY KEY REFERENCES currencies,
    height          bigint NOT NULL,      -- the tip when the last scan began
    scanned_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE withdrawal_addresses (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users,
    currency        text NOT NULL REFERENCES currencies,
    address         text NOT NULL,
    label           text NOT NULL DEFAULT '',
    usable_from     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, currency, address)
);

CREATE TABLE withdrawals (
    id              uuid PRIMARY KEY,
    number          bigserial NOT NULL UNIQUE,     -- the order of requests, for paging
    user_id         bigint NOT NULL REFERENCES users,
    currency        text NOT NULL REFERENCES currencies,
    address         text NOT NULL,
    amount          numeric NOT NULL CHECK (amount > 0),
    fee             numeric NOT NULL CHECK (fee >= 0),
    status          text NOT NULL CHECK (status IN ('pending_approval', 'queued', 'sending',
                        'sent', 'confirmed', 'failed', 'cancelled', 'rejected', 'attention')),
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    txid            text,
    confirmations   integer NOT NULL DEFAULT 0,
    network_fee     numeric,              -- what the chain charged us, once known
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX withdrawals_by_user ON withdrawals (user_id, created_at);
CREATE INDEX withdrawals_open ON withdrawals (currency, status)
    WHERE status IN ('queued', 'sending', 'sent');

-- Each comparison of a node's wallet with what the ledger says we owe on it.
CREATE TABLE wallet_checks (
    id              bigserial PRIMARY KEY,
    currency        text NOT NULL REFERENCES currencies,
    wallet          numeric NOT NULL,
    owed            numeric NOT NULL,
    checked_at      timestamptz NOT NULL DEFAULT now()
);
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT ON wallet_keys, wallet_sends, deposit_addresses,
            withdrawal_addresses, wallet_checks TO "{role}";
        GRANT SELECT, INSERT, UPDATE ON deposits, deposit_scans, withdrawals TO "{role}";
        GRANT DELETE ON withdrawal_addresses TO "{role}";
        GRANT UPDATE (withdrawals_paused) ON currencies TO "{role}";
        GRANT DELETE ON simulated_chain_transactions TO "{role}";
        GRANT USAGE ON SEQUENCE wallet_key_index, deposits_id_seq, withdrawal_addresses_id_seq,
            withdrawals_number_seq,
            wallet_checks_id_seq TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("""
DROP TABLE wallet_checks, withdrawals, withdrawal_addresses, deposit_scans, deposits,
    deposit_addresses, wallet_sends, wallet_keys;
DROP SEQUENCE wallet_key_index;
ALTER TABLE currencies DROP COLUMN withdrawal_fee, DROP COLUMN withdrawal_min,
    DROP COLUMN withdrawal_max, DROP COLUMN withdrawal_daily_max,
    DROP COLUMN withdrawal_approval_above, DROP COLUMN withdrawals_paused;
""")
