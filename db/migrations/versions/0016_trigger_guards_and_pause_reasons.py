"""Nobody but the owner runs the ledger's trigger functions, each runs only for its own
tables, the application's role can create nothing; a pause of withdrawals says why.

``ledger_apply_entries()`` runs as the owner (SECURITY DEFINER) and was executable by
PUBLIC, and PUBLIC could create temporary tables: the application's role could hang it
on a table of its own whose transition table is named ``new_entries``, post a transfer
of two cancelling entries, and insert rows naming that transfer into its own table; the
function then moved the running balances by those rows, with no entries behind them.
Each of these closes it alone:

* EXECUTE on every function of the schema is revoked from PUBLIC (and from the
  application's role), and so by default on functions the owner creates later.
  Triggers fire without it: the privilege is checked when a trigger is created.
* Every trigger function first checks ``TG_TABLE_SCHEMA`` and ``TG_TABLE_NAME`` and
  refuses (EX006) a table that is not one of its own. Each body is the one the
  migration that last wrote it gave, unchanged; the options are restated, because
  CREATE OR REPLACE drops the SET clauses it does not name.
* TEMPORARY (and CREATE) on the database and CREATE on schema ``public`` are revoked
  from PUBLIC: the application's role can create no table, schema or function anywhere.
  It keeps CONNECT and USAGE on the schema, which give it nothing beyond its grants.

The migration then checks that the application's role (and PUBLIC) holds none of
these, and fails if it does: a role that does not own the database cannot revoke them,
and a role that is a superuser or a member of the owner holds them anyway.

``currencies.withdrawals_paused_reason`` and ``withdrawals_paused_at`` record why and
since when a currency's withdrawals are paused (a reconciliation difference, a wallet
shortfall, an operator), for the operator who resumes them.

Revision ID: 0016
Revises: 0015
"""
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from alembic import context, op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SCHEMA = "public"
FOREIGN_TABLE_ERRCODE = "EX006"


def _migration(file_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{file_name[:4]}",
                                                  Path(__file__).with_name(file_name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LEDGER = _migration("0001_ledger.py").TRIGGERS
_REFERENCES = _migration("0012_references_per_statement.py")
_APPLY_ENTRIES = _migration("0013_fewer_lookups_per_posting.py").APPLY_ENTRIES

# (function, the tables it serves, its options, the text that last defined it)
FUNCTIONS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("ledger_refuse_change", ("transfers", "entries", "accounts", "trades", "fills",
                              "liability_snapshots", "liability_leaves"), "", _LEDGER),
    ("transfers_stamp", ("transfers",), "", _LEDGER),
    ("transfers_require_entries", ("transfers",), "SET enable_seqscan = off", _LEDGER),
    ("accounts_start_empty", ("accounts",), "", _LEDGER),
    ("accounts_guard", ("accounts",), "", _LEDGER),
    ("ledger_apply_entries", ("entries",),
     "SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off "
     "SET enable_hashjoin = off SET enable_mergejoin = off", _APPLY_ENTRIES),
    ("refuse_reference_change", ("users", "markets", "currencies", "orders", "accounts",
                                 "matcher_requests", "trades", "fills"), "",
     _REFERENCES.REFUSE),
    *((f"{table}_check_references", (table,), "", _REFERENCES._check_function(table))
      for table in _REFERENCES.CHECKED),
)


def _body(source: str, function: str) -> tuple[str, str]:
    """(declarations, statements) of ``function`` as ``source`` defines it."""
    found = re.search(rf"CREATE (OR REPLACE )?FUNCTION {function}\(\)", source)
    if found is None:
        raise RuntimeError(f"no definition of {function}() to guard")
    start = found.start()
    begin = source.index("AS $$\n", start) + len("AS $$\n")
    declarations, _, statements = source[begin:source.index("END $$", begin)].partition(
        "BEGIN\n")
    return declarations, statements


def definition(function: str, tables: tuple[str, ...], options: str, source: str,
               guarded: bool = True) -> str:
    declarations, statements = _body(source, function)
    names = ", ".join(f"'{table}'" for table in tables)
    guard = f"""    IF TG_TABLE_SCHEMA <> '{SCHEMA}' OR TG_TABLE_NAME NOT IN ({names}) THEN
        RAISE EXCEPTION '{function}() serves only {SCHEMA}.{"/".join(tables)}, not %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '{FOREIGN_TABLE_ERRCODE}';
    END IF;
""" if guarded else ""
    return (f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
            f"{options} AS $$\n{declarations}BEGIN\n{guard}{statements}END $$")


OPTIONS = f"""
SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p
 WHERE p.pronamespace = '{SCHEMA}'::regnamespace AND p.prorettype = 'trigger'::regtype
 ORDER BY 1"""


def _replace_functions(guarded: bool) -> None:
    connection = op.get_bind()
    before = connection.exec_driver_sql(OPTIONS).all()
    for function in FUNCTIONS:
        op.execute(definition(*function, guarded=guarded))
    after = connection.exec_driver_sql(OPTIONS).all()
    if after != before:
        raise RuntimeError(f"trigger functions changed their options: {before} -> {after}")
    missing = {name for name, _, _ in after} - {name for name, _, _, _ in FUNCTIONS}
    if guarded and missing:
        raise RuntimeError(f"trigger functions without a guard: {sorted(missing)}")


def _revoke(role: str) -> str:
    return f"""
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC;
DO $$ BEGIN
    EXECUTE format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM PUBLIC', current_database());
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        EXECUTE format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM %I',
                       current_database(), '{role}');
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM "{role}";
        REVOKE CREATE ON SCHEMA {SCHEMA} FROM "{role}";
    END IF;
END $$;
"""


def _verify(role: str) -> str:
    """Fails the migration if the application's role (or PUBLIC) still holds any of it."""
    return f"""
DO $$
DECLARE
    grantee text;
BEGIN
    FOREACH grantee IN ARRAY ARRAY['public']
            || ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = '{role}') LOOP
        IF has_database_privilege(grantee, current_database(), 'TEMPORARY')
           OR has_database_privilege(grantee, current_database(), 'CREATE')
           OR has_schema_privilege(grantee, '{SCHEMA}', 'CREATE')
           OR EXISTS (SELECT 1 FROM pg_proc p
                       WHERE p.pronamespace = '{SCHEMA}'::regnamespace
                         AND has_function_privilege(grantee, p.oid, 'EXECUTE')) THEN
            RAISE EXCEPTION 'role % may still create tables or run the ledger''s functions in '
                'database %: run migrations as the owner of the database, and make % neither '
                'a superuser nor a member of the owner role', grantee, current_database(),
                grantee;
        END IF;
    END LOOP;
END $$;
"""


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute("""
ALTER TABLE currencies
    ADD COLUMN withdrawals_paused_reason text
        CHECK (length(withdrawals_paused_reason) <= 1000),
    ADD COLUMN withdrawals_paused_at timestamptz;
UPDATE currencies SET withdrawals_paused_reason = 'paused before pauses recorded a reason',
                      withdrawals_paused_at = now()
 WHERE withdrawals_paused;
""")
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT UPDATE (withdrawals_paused_reason, withdrawals_paused_at) ON currencies
            TO "{role}";
    END IF;
END $$;
""")
    _replace_functions(guarded=True)
    op.execute(_revoke(role))
    op.execute(_verify(role))


def downgrade() -> None:
    op.execute(f"""
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
DO $$ BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END $$;
ALTER TABLE currencies DROP COLUMN withdrawals_paused_reason,
    DROP COLUMN withdrawals_paused_at;
""")
    _replace_functions(guarded=False)
