"""The application's role can neither make a table to hang a trigger on, nor run the
ledger's trigger functions; and each trigger function refuses a table not its own.

The attack these close: with TEMP on the database and EXECUTE on the (SECURITY DEFINER)
entries trigger, the application could hang ``ledger_apply_entries()`` on a temporary
table named by its transition table, post a transfer of two cancelling entries, and
insert rows into its own table naming that transfer: balances would move with no
entries behind them.
"""

import re
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db import engine as engines
from ledger import AccountKind, account, move, post, reconcile
from tests.conftest import recreate_database
from tests.factories import create_currency, create_user, deposit

INSUFFICIENT_PRIVILEGE = "42501"
FOREIGN_TABLE = "EX006"          # a trigger function fired for a table not its own
# The only functions the application's role may execute, each granted to it by name:
# the check constraint on API keys runs its function as the inserting role.
APPLICATION_FUNCTIONS = ["api_key_allowlist_is_narrow(cidr[])"]
ATTACK_TABLE = "CREATE TEMP TABLE x (transfer_id bigint, account_id bigint, amount numeric)"
ATTACK_TRIGGER = ("CREATE TRIGGER x_apply AFTER INSERT ON x REFERENCING NEW TABLE AS "
                  "new_entries FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_apply_entries()")
# Every way the application's role might get a table, a schema or a function of its own.
MAKE_SOMETHING_OF_ITS_OWN = [
    ATTACK_TABLE,
    "CREATE TABLE pg_temp.x (transfer_id bigint, account_id bigint, amount numeric)",
    "SELECT 1 AS transfer_id INTO TEMP x",
    "CREATE TABLE public.x (transfer_id bigint, account_id bigint, amount numeric)",
    "CREATE SCHEMA x",
    "CREATE FUNCTION pg_temp.x() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION public.x() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TRIGGER x_apply AFTER INSERT ON entries REFERENCING NEW TABLE AS new_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_apply_entries()",
    "SELECT public.ledger_apply_entries()",
]
TRIGGER_FUNCTIONS = """
    SELECT p.oid::regprocedure::text AS function, n.nspname AS schema,
           array(SELECT DISTINCT c.relname::text FROM pg_trigger t
                   JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE t.tgfoid = p.oid AND NOT t.tgisinternal ORDER BY 1) AS tables,
           p.prosrc AS source
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prorettype = 'trigger'::regtype
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1"""


def refusal(error: DBAPIError) -> str:
    return error.orig.pgcode  # type: ignore[union-attr]


def ledger_state(engine, accounts) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT id, balance, entry_count, (SELECT count(*) FROM entries e "
            "WHERE e.account_id = a.id) FROM accounts a WHERE id = ANY(:ids) ORDER BY id"),
            {"ids": [a.id for a in accounts]})]


def funded(app, admin) -> tuple:
    currency = create_currency(admin)
    with app.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, currency, Decimal("1"))
        return (account(conn, user, currency, AccountKind.AVAILABLE),
                account(conn, None, currency, AccountKind.WORLD))


def cancelling_transfer(conn, available, world) -> int:
    """A transfer of this transaction with two entries that cancel out."""
    return post(conn, move(f"cancelling:{available.id}:{world.id}", "test", world, available,
                           Decimal("1"))).id


def test_the_application_role_is_refused_at_every_step_of_the_temp_table_attack(
        engine, admin_engine):
    """The first step, a table of its own to hang the trigger on, is refused however it is
    asked for; so are hanging it on a table of the schema and calling the function. The
    test below shows each later step refused on its own."""
    available, world = funded(engine, admin_engine)
    before = ledger_state(engine, (available, world))
    refused = {}
    for statement in MAKE_SOMETHING_OF_ITS_OWN:
        # Never committed: a statement that is not refused leaves nothing behind.
        with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
            conn.execute(text(statement))
        refused[statement] = refusal(raised.value)
    assert refused == {statement: INSUFFICIENT_PRIVILEGE for statement in MAKE_SOMETHING_OF_ITS_OWN}
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT has_database_privilege(current_database(), 'TEMP, CREATE'), "
            "has_schema_privilege('public', 'CREATE'), "
            "has_function_privilege('public.ledger_apply_entries()', 'EXECUTE')")).one() == (
            False, False, False)
    assert ledger_state(engine, (available, world)) == before
    assert reconcile(engine) == []


@pytest.fixture(scope="module")
def scratch(settings):
    """A database of its own, where the owner grants what an operator might by mistake."""
    name = "exchange_scratch_privileges"
    admin_url = recreate_database(settings, name)
    admin = engines.create(admin_url, pooled=False)
    app = engines.create(admin_url.replace("postgres@", f"{settings.database_app_role}@"),
                         pooled=False)
    yield admin, app, name, settings.database_app_role
    admin.dispose()
    app.dispose()
    recreate_database(settings, name)


def test_each_defence_alone_refuses_the_temp_table_attack(scratch):
    admin, app, database, role = scratch
    available, world = funded(app, admin)
    before = ledger_state(app, (available, world))
    with admin.begin() as conn:          # the first slip: temporary tables allowed
        conn.execute(text(f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"'))
    with app.connect() as attacker:
        attacker.execute(text(ATTACK_TABLE))
        attacker.commit()
        with pytest.raises(DBAPIError) as raised:
            attacker.execute(text(ATTACK_TRIGGER))
        assert refusal(raised.value) == INSUFFICIENT_PRIVILEGE
        attacker.rollback()
        with admin.begin() as conn:      # the second slip: the function executable too
            conn.execute(text(f'GRANT EXECUTE ON FUNCTION ledger_apply_entries() TO "{role}"'))
        attacker.execute(text(ATTACK_TRIGGER))
        attacker.commit()
        transfer_id = cancelling_transfer(attacker, available, world)
        with pytest.raises(DBAPIError) as raised:
            attacker.execute(text("INSERT INTO x VALUES (:t, :a, 1000), (:t, :w, -1000)"),
                             {"t": transfer_id, "a": available.id, "w": world.id})
        assert refusal(raised.value) == FOREIGN_TABLE
        attacker.rollback()
    assert ledger_state(app, (available, world)) == before
    assert reconcile(app) == []


def test_the_entries_trigger_refuses_a_table_named_entries_in_another_schema_even_for_the_owner(
        engine, admin_engine):
    available, world = funded(engine, admin_engine)
    before = ledger_state(engine, (available, world))
    with pytest.raises(DBAPIError) as raised, admin_engine.connect() as conn:
        conn.execute(text("CREATE SCHEMA guard_probe; "
                          "CREATE TABLE guard_probe.entries (LIKE public.entries); "
                          "CREATE TRIGGER probe AFTER INSERT ON guard_probe.entries "
                          "REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT "
                          "EXECUTE FUNCTION public.ledger_apply_entries()"))
        transfer_id = cancelling_transfer(conn, available, world)
        conn.execute(text("INSERT INTO guard_probe.entries (id, transfer_id, account_id, "
                          "amount) VALUES (0, :t, :a, 1000), (1, :t, :w, -1000)"),
                     {"t": transfer_id, "a": available.id, "w": world.id})
    assert refusal(raised.value) == FOREIGN_TABLE
    assert ledger_state(engine, (available, world)) == before
    assert reconcile(engine) == []


def test_every_trigger_function_refuses_to_run_for_a_table_not_its_own(admin_engine):
    """Enumerated from the catalogue: a trigger function added later without the guard
    fails here."""
    with admin_engine.connect() as conn:
        functions = conn.execute(text(TRIGGER_FUNCTIONS)).all()
    assert len(functions) >= 11
    unguarded = []
    with admin_engine.connect() as conn, conn.begin():
        conn.execute(text("CREATE SCHEMA guard_probe; "
                          "CREATE TABLE public.guard_probe (x int)"))
        for function, _, tables, _ in functions:
            # Its own tables' names in another schema, and another table in its own.
            probes = [f'guard_probe."{table}"' for table in tables] + ["public.guard_probe"]
            for probe in probes:
                with conn.begin_nested() as attempt:
                    conn.execute(text(f'CREATE TABLE IF NOT EXISTS {probe} (x int)'))
                    conn.execute(text(f"CREATE TRIGGER probe BEFORE INSERT ON {probe} "
                                      f"FOR EACH ROW EXECUTE FUNCTION {function}"))
                    try:
                        with conn.begin_nested():
                            conn.execute(text(f"INSERT INTO {probe} VALUES (1)"))
                        unguarded.append((function, probe, "ran"))
                    except DBAPIError as error:
                        if refusal(error) != FOREIGN_TABLE:
                            unguarded.append((function, probe, refusal(error)))
                    attempt.rollback()
        conn.rollback()
    assert unguarded == []


def test_every_trigger_function_admits_every_table_whose_triggers_run_it(admin_engine):
    with admin_engine.connect() as conn:
        functions = conn.execute(text(TRIGGER_FUNCTIONS)).all()
    refused_own = {}
    for function, schema, tables, source in functions:
        guard = re.search(r"IF TG_TABLE_SCHEMA <> '(\w+)' OR TG_TABLE_NAME NOT IN \(([^)]*)\)",
                          source)
        admitted = set() if guard is None or guard[1] != schema else \
            {name.strip().strip("'") for name in guard[2].split(",")}
        if not set(tables) <= admitted:
            refused_own[function] = sorted(set(tables) - admitted)
    assert refused_own == {}


def test_no_trigger_function_is_executable_by_anyone_but_its_owner(admin_engine, settings):
    with admin_engine.connect() as conn:
        granted = conn.execute(text(f"""
            SELECT p.oid::regprocedure::text, grantee.rolname, a.privilege_type
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              LEFT JOIN pg_roles grantee ON grantee.oid = a.grantee
             WHERE p.prorettype = 'trigger'::regtype
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND a.grantee <> p.proowner
             ORDER BY 1""")).all()
        application = conn.execute(text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND (has_function_privilege(:role, p.oid, 'EXECUTE') "
            "     OR has_function_privilege('public', p.oid, 'EXECUTE'))"),
            {"role": settings.database_app_role}).scalars().all()
    assert granted == []
    assert application == APPLICATION_FUNCTIONS


def test_functions_created_later_by_the_owner_are_not_executable_by_public(admin_engine,
                                                                           settings):
    with admin_engine.connect() as conn, conn.begin():
        conn.execute(text("CREATE FUNCTION public.created_later() RETURNS int "
                          "LANGUAGE sql AS 'SELECT 1'"))
        assert conn.execute(text(
            "SELECT has_function_privilege('public', 'public.created_later()', 'EXECUTE'), "
            "has_function_privilege(:role, 'public.created_later()', 'EXECUTE')"),
            {"role": settings.database_app_role}).one() == (False, False)
        conn.rollback()


def test_the_application_role_owns_nothing_and_can_create_nothing(admin_engine, settings):
    role = settings.database_app_role
    with admin_engine.connect() as conn:
        found = conn.execute(text("""
            SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                   has_database_privilege(r.rolname, current_database(), 'CREATE'),
                   has_database_privilege(r.rolname, current_database(), 'TEMP'),
                   has_database_privilege('public', current_database(), 'TEMP'),
                   (SELECT array_agg(nspname::text ORDER BY nspname) FROM pg_namespace
                     WHERE has_schema_privilege(r.rolname, oid, 'CREATE')
                        OR has_schema_privilege('public', oid, 'CREATE')),
                   (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                   + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
                   + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid),
                   (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
                     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                       AND has_table_privilege(r.rolname, c.oid, 'TRIGGER, TRUNCATE, REFERENCES'))
              FROM pg_roles r WHERE r.rolname = :role"""), {"role": role}).one()
    assert tuple(found) == (False, False, False, False, False, False, False, None, 0, None)
