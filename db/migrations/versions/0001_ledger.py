"""Currencies, markets, users and the append-only double-entry ledger.

The ledger's invariants live here, in the database, so that no code path (and no
bug in Python) can break them:

* entries are inserted in one statement per transfer, in the transaction that
  created the transfer, and each transfer's entries sum to zero per currency;
* every amount is non-zero and fits its currency's scale;
* transfers and entries refuse UPDATE, DELETE and TRUNCATE;
* an account's running balance changes only through its entries (the trigger
  below), and only the outside world of a chain may go below zero.

Revision ID: 0001
Revises:
"""
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE currencies (
    code            text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    scale           smallint NOT NULL CHECK (scale BETWEEN 0 AND 18),
    confirmations   integer NOT NULL CHECK (confirmations BETWEEN 0 AND 1000),
    driver          text NOT NULL CHECK (driver ~ '^[a-z_]{1,40}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE markets (
    symbol          text PRIMARY KEY,
    base            text NOT NULL REFERENCES currencies,
    quote           text NOT NULL REFERENCES currencies,
    tick_size       numeric NOT NULL CHECK (tick_size > 0),
    lot_size        numeric NOT NULL CHECK (lot_size > 0),
    min_notional    numeric NOT NULL CHECK (min_notional >= 0),
    maker_fee_bps   integer NOT NULL CHECK (maker_fee_bps BETWEEN 0 AND 1000),
    taker_fee_bps   integer NOT NULL CHECK (taker_fee_bps BETWEEN 0 AND 1000),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'halted')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (base <> quote),
    CHECK (symbol = base || '-' || quote)
);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_user_id   bigint REFERENCES users,
    currency        text NOT NULL REFERENCES currencies,
    kind            text NOT NULL CHECK (kind IN ('available', 'held', 'fees',
                        'deposits_in_transit', 'withdrawals_in_transit', 'world')),
    -- Running total and count of this account's entries: a checkpoint that
    -- reconcile() re-derives from the entries and compares.
    balance         numeric NOT NULL DEFAULT 0,
    entry_count     bigint NOT NULL DEFAULT 0,
    CONSTRAINT accounts_owner_matches_kind
        CHECK ((owner_user_id IS NOT NULL) = (kind IN ('available', 'held'))),
    CONSTRAINT accounts_balance_nonnegative CHECK (balance >= 0 OR kind = 'world'),
    CONSTRAINT accounts_one_per_owner_currency_kind
        UNIQUE NULLS NOT DISTINCT (owner_user_id, currency, kind)
);

CREATE TABLE transfers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    reference       text NOT NULL DEFAULT '' CHECK (length(reference) <= 200),
    content_hash    bytea NOT NULL CHECK (length(content_hash) = 32),
    xact_id         xid8 NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE TABLE entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id     bigint NOT NULL REFERENCES transfers,
    account_id      bigint NOT NULL REFERENCES accounts,
    amount          numeric NOT NULL CHECK (amount <> 0)
);
CREATE INDEX entries_transfer_id ON entries (transfer_id);
CREATE INDEX entries_account_id ON entries (account_id, id);
"""

TRIGGERS = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'EX001';
END $$;

CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- The transaction id ties a transfer's entries to the transaction that made it.
CREATE FUNCTION transfers_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.xact_id := pg_current_xact_id();
    NEW.created_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER transfers_stamp BEFORE INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_stamp();

-- A transfer without entries is refused at commit.
CREATE FUNCTION transfers_require_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM entries WHERE transfer_id = NEW.id) THEN
        RAISE EXCEPTION 'transfer % has no entries', NEW.id USING ERRCODE = 'EX002';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transfers_require_entries AFTER INSERT ON transfers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transfers_require_entries();

-- A new account starts empty; its balance is only ever the sum of its entries.
CREATE FUNCTION accounts_start_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.balance := 0;
    NEW.entry_count := 0;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_start_empty BEFORE INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_start_empty();

-- Only ledger_apply_entries (trigger depth 2) may move a running balance, and no
-- one may re-own an account.
CREATE FUNCTION accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.owner_user_id, NEW.currency, NEW.kind)
            IS DISTINCT FROM (OLD.owner_user_id, OLD.currency, OLD.kind) THEN
        RAISE EXCEPTION 'account % cannot change owner, currency or kind', OLD.id
            USING ERRCODE = 'EX005';
    END IF;
    IF (NEW.balance, NEW.entry_count) IS DISTINCT FROM (OLD.balance, OLD.entry_count)
            AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'the balance of account % changes only through entries', OLD.id
            USING ERRCODE = 'EX005';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_guard BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_guard();

-- Once per INSERT statement on entries: check the statement's transfers whole,
-- then move the running balances (which fires accounts_balance_nonnegative).
CREATE FUNCTION ledger_apply_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.amount, c.code, c.scale INTO bad
      FROM new_entries n
      JOIN accounts a ON a.id = n.account_id
      JOIN currencies c ON c.code = a.currency
     WHERE n.amount <> round(n.amount, c.scale)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'amount % has more decimals than % allows (%)',
            bad.amount, bad.code, bad.scale
            USING ERRCODE = 'EX003';
    END IF;

    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT transfer_id FROM new_entries) n
                 JOIN transfers t ON t.id = n.transfer_id
                WHERE t.xact_id <> pg_current_xact_id()) THEN
        RAISE EXCEPTION 'entries may only be added by the transaction that created their transfer'
            USING ERRCODE = 'EX004';
    END IF;
    IF (SELECT count(*) FROM entries
         WHERE transfer_id IN (SELECT DISTINCT transfer_id FROM new_entries))
       <> (SELECT count(*) FROM new_entries) THEN
        RAISE EXCEPTION 'all entries of a transfer must be inserted in one statement'
            USING ERRCODE = 'EX004';
    END IF;

    SELECT n.transfer_id, a.currency, sum(n.amount) AS total INTO bad
      FROM new_entries n JOIN accounts a ON a.id = n.account_id
     GROUP BY n.transfer_id, a.currency
    HAVING sum(n.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transfer % does not balance in %: its entries sum to %',
            bad.transfer_id, bad.currency, bad.total USING ERRCODE = 'EX002';
    END IF;

    -- Lock in id order so that concurrent transfers never deadlock. NO KEY UPDATE is
    -- what the UPDATE below takes anyway, and it does not conflict with the KEY SHARE
    -- locks that the entries' foreign keys hold on the same accounts.
    PERFORM 1 FROM accounts WHERE id IN (SELECT account_id FROM new_entries)
      ORDER BY id FOR NO KEY UPDATE;
    UPDATE accounts a
       SET balance = a.balance + d.delta, entry_count = a.entry_count + d.n
      FROM (SELECT account_id, sum(amount) AS delta, count(*) AS n
              FROM new_entries GROUP BY account_id) d
     WHERE a.id = d.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_apply AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_entries();
"""


def grants(role: str) -> str:
    # The application may read everything and append to the ledger; it may not
    # update or delete ledger rows, touch balances, or alter triggers (it owns nothing).
    return f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT USAGE ON SCHEMA public TO "{role}";
        GRANT SELECT ON currencies, markets TO "{role}";
        GRANT SELECT, INSERT, UPDATE ON users TO "{role}";
        GRANT SELECT, INSERT ON accounts, transfers, entries TO "{role}";
    END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(TRIGGERS)
    op.execute(grants(context.config.attributes["app_role"]))


def downgrade() -> None:
    op.execute("DROP TABLE entries, transfers, accounts, users, markets, currencies CASCADE")
    op.execute("DROP FUNCTION ledger_refuse_change, transfers_stamp, transfers_require_entries, "
               "accounts_start_empty, accounts_guard, ledger_apply_entries")
