"""The ledger's entry trigger looks rows up by key, one new transfer or account at a time.

PL/pgSQL plans the trigger's parameterless queries once per connection and keeps the
plan. A plan made while the ledger was small may join by scanning ``transfers`` or
``entries`` whole, and a pooled connection would go on doing so as they grow: a cost
per posting that rises with the ledger's history. Written as lookups driven from the
statement's new entries (a subquery per transfer), the plan is an index lookup at
every size. The checks themselves are those of 0001, unchanged.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_apply_entries() RETURNS trigger
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
                WHERE (SELECT t.xact_id FROM transfers t WHERE t.id = n.transfer_id)
                      <> pg_current_xact_id()) THEN
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

    -- Lock in id order so that concurrent transfers never deadlock. NO KEY UPDATE is
    -- what the UPDATE below takes anyway, and it does not conflict with the KEY SHARE
    -- locks that the entries' foreign keys hold on the same accounts.
    PERFORM 1 FROM accounts WHERE id = ANY(ARRAY(SELECT DISTINCT account_id FROM new_entries))
      ORDER BY id FOR NO KEY UPDATE;
    UPDATE accounts a
       SET balance = a.balance + d.delta, entry_count = a.entry_count + d.n
      FROM (SELECT account_id, sum(amount) AS delta, count(*) AS n
              FROM new_entries GROUP BY account_id) d
     WHERE a.id = d.account_id;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    """Back to the function as 0001 wrote it."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "ledger_0001", Path(__file__).with_name("0001_ledger.py"))
    assert spec is not None and spec.loader is not None
    first = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(first)
    start = first.TRIGGERS.index("CREATE FUNCTION ledger_apply_entries()")
    end = first.TRIGGERS.index("CREATE TRIGGER entries_apply")
    op.execute(first.TRIGGERS[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
