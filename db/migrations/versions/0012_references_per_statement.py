"""The hot tables check their references once per statement, not once per row.

A foreign key checks each inserted row with a query of its own (and locks the row it
names). An accepted order wrote about 28 such rows (its order and request, the
entries of its hold, of its trades and of its release, its trades and fills), and
``bench.order_path`` measured the checks at about 30 % of PostgreSQL's CPU per order.

On ``entries``, ``orders``, ``matcher_requests``, ``trades`` and ``fills`` the foreign
keys are replaced by an AFTER INSERT trigger per statement that looks up every row's
references (by key) and refuses the statement, with the foreign-key violation's error
code, if one is missing. The ledger's entry trigger already reads every account and
transfer its entries name, so its checks cost nothing more.

Checking at insert is enough because a row that is referred to never goes away and
never changes its key: transfers, entries, trades and fills refuse UPDATE, DELETE and
TRUNCATE already; ``accounts`` refuses DELETE and TRUNCATE; and this migration refuses
DELETE, TRUNCATE and a change of key (or of a reference) on ``users``, ``markets``,
``currencies``, ``orders``, ``accounts`` and ``matcher_requests``, for every role. The
other tables keep their foreign keys.

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# (table, constraint, column, referenced table, referenced column)
FOREIGN_KEYS = (
    ("entries", "entries_transfer_id_fkey", "transfer_id", "transfers", "id"),
    ("entries", "entries_account_id_fkey", "account_id", "accounts", "id"),
    ("orders", "orders_user_id_fkey", "user_id", "users", "id"),
    ("orders", "orders_market_fkey", "market", "markets", "symbol"),
    ("orders", "orders_hold_currency_fkey", "hold_currency", "currencies", "code"),
    ("matcher_requests", "matcher_requests_market_fkey", "market", "markets", "symbol"),
    ("matcher_requests", "matcher_requests_order_id_fkey", "order_id", "orders", "id"),
    ("trades", "trades_market_fkey", "market", "markets", "symbol"),
    ("trades", "trades_maker_order_id_fkey", "maker_order_id", "orders", "id"),
    ("trades", "trades_taker_order_id_fkey", "taker_order_id", "orders", "id"),
    ("trades", "trades_transfer_id_fkey", "transfer_id", "transfers", "id"),
    ("fills", "fills_trade_id_fkey", "trade_id", "trades", "id"),
    ("fills", "fills_user_id_fkey", "user_id", "users", "id"),
    ("fills", "fills_order_id_fkey", "order_id", "orders", "id"),
)
# The inserting tables checked by a trigger of their own (entries: by the ledger's).
CHECKED = ("orders", "matcher_requests", "trades", "fills")
# Columns that never change once written: a row elsewhere may name them.
KEPT = {"users": "id", "markets": "symbol", "currencies": "code",
        "orders": "id, user_id, market, hold_currency", "accounts": "id",
        "matcher_requests": "market, order_id"}
# Tables whose rows are never deleted (the others refuse it already).
UNDELETABLE = ("users", "markets", "currencies", "orders", "matcher_requests")
UNTRUNCATABLE = UNDELETABLE + ("trades", "fills")


def _check_function(table: str) -> str:
    # A scalar subquery per reference: always an index lookup, whatever the plan cached.
    missing = " OR ".join(
        f"(SELECT 1 FROM {referenced} r WHERE r.{key} = n.{column}) IS NULL"
        for checked, _, column, referenced, key in FOREIGN_KEYS if checked == table)
    names = ", ".join(column for checked, _, column, _, _ in FOREIGN_KEYS if checked == table)
    return f"""
CREATE FUNCTION {table}_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE {missing}) THEN
        RAISE EXCEPTION 'a row of {table} names a {names} that does not exist'
            USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_references AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_check_references();
"""


REFUSE = """
CREATE FUNCTION refuse_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: other rows refer to its rows by key', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '23503';
END $$;
"""

# 0009's function with the references checked: a missing account is found by counting
# the accounts locked, a missing transfer by the transaction check's lookup.
APPLY_ENTRIES = """
CREATE OR REPLACE FUNCTION ledger_apply_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off
AS $$
DECLARE
    bad record;
    named bigint[];
    locked bigint;
BEGIN
    -- Lock in id order so that concurrent transfers never deadlock (NO KEY UPDATE is
    -- what the UPDATE below takes anyway), and find every account named.
    named := ARRAY(SELECT DISTINCT account_id FROM new_entries);
    PERFORM 1 FROM accounts WHERE id = ANY(named) ORDER BY id FOR NO KEY UPDATE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked <> cardinality(named) THEN
        RAISE EXCEPTION 'an entry names an account that does not exist'
            USING ERRCODE = '23503';
    END IF;

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

    SELECT s.transfer_id, s.xact_id INTO bad
      FROM (SELECT n.transfer_id,
                   (SELECT t.xact_id FROM transfers t WHERE t.id = n.transfer_id) AS xact_id
              FROM (SELECT DISTINCT transfer_id FROM new_entries) n) s
     WHERE s.xact_id IS DISTINCT FROM pg_current_xact_id()
     LIMIT 1;
    IF FOUND AND bad.xact_id IS NULL THEN
        RAISE EXCEPTION 'an entry names transfer %, which does not exist', bad.transfer_id
            USING ERRCODE = '23503';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'entries may only be added by the transaction that created their transfer'
            USING ERRCODE = 'EX004';
    END IF;
    IF (SELECT sum((SELECT count(*) FROM entries e WHERE e.transfer_id = n.transfer_id))
          FROM (SELECT DISTINCT transfer_id FROM new_entries) n)
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

    UPDATE accounts a
       SET balance = a.balance + d.delta, entry_count = a.entry_count + d.n
      FROM (SELECT account_id, sum(amount) AS delta, count(*) AS n
              FROM new_entries GROUP BY account_id) d
     WHERE a.id = d.account_id;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(REFUSE)
    for table, columns in KEPT.items():
        op.execute(f"CREATE TRIGGER {table}_keep_references BEFORE UPDATE OF {columns} "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_reference_change()")
    for table in UNDELETABLE:
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION refuse_reference_change()")
    for table in UNTRUNCATABLE:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION refuse_reference_change()")
    op.execute(APPLY_ENTRIES)
    for table in CHECKED:
        op.execute(_check_function(table))
    for table, constraint, _, _, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")


def downgrade() -> None:
    for table, constraint, column, referenced, key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} "
                   f"FOREIGN KEY ({column}) REFERENCES {referenced} ({key})")
    for table in CHECKED:
        op.execute(f"DROP TRIGGER {table}_references ON {table}")
        op.execute(f"DROP FUNCTION {table}_check_references()")
    for table in UNTRUNCATABLE:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    for table in UNDELETABLE:
        op.execute(f"DROP TRIGGER {table}_no_delete ON {table}")
    for table in KEPT:
        op.execute(f"DROP TRIGGER {table}_keep_references ON {table}")
    op.execute("DROP FUNCTION refuse_reference_change()")
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "ledger_0009", Path(__file__).with_name("0009_ledger_key_lookups.py"))
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(previous.FUNCTION)
    op.execute("ALTER FUNCTION ledger_apply_entries() SET enable_seqscan = off")
