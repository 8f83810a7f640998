"""A backup taken while people trade restores, verified, into a ledger that reconciles."""

import threading

import pytest
from sqlalchemy.engine import make_url

from backups import archive
from backups.sealing import SealBroken, seal, unseal
from backups.targets import DirectoryTarget
from ledger import reconcile
from tests.trading import assert_consistent, create_market, funded_user, place, runner

SCRATCH_DATABASE = "exchange_restore_check"


@pytest.fixture
def target(tmp_path):
    return DirectoryTarget(tmp_path / "backups")


def test_a_backup_taken_mid_trading_restores_to_a_ledger_that_reconciles(
        settings, engine, admin_engine, target):
    market = create_market(admin_engine)
    sellers = [funded_user(engine, market, base="100") for _ in range(3)]
    buyers = [funded_user(engine, market, quote="100000") for _ in range(3)]
    matcher = runner(engine, settings, market)
    assert matcher.lead()
    stop, busy = threading.Event(), threading.Event()

    def trade():
        n = 0
        while not stop.is_set():
            n += 1
            if n == 10:
                busy.set()
            place(engine, sellers[n % 3], market, side="sell", type="limit", quantity="0.5",
                  price=f"{10 + n % 7}.00")
            place(engine, buyers[n % 3], market, side="buy", type="market", quantity="0.3")
            matcher.run_pending()
    trading = threading.Thread(target=trade)
    trading.start()
    try:
        assert busy.wait(60)                   # the dump starts while orders keep coming
        manifest = archive.take(settings, target)
    finally:
        stop.set()
        trading.join()
        matcher.resign()
    assert archive.listed(target) == [manifest["name"]]
    restored = archive.restore(settings, target, manifest["name"], SCRATCH_DATABASE)
    assert restored.discrepancies == []
    assert restored.transfers > 0
    assert_consistent(engine)


def test_a_tampered_backup_is_refused(settings, target):
    manifest = archive.take(settings, target)
    sealed = target.directory / f"{manifest['name']}.dump.sealed"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(archive.BackupInvalid, match="does not match its manifest"):
        archive.restore(settings, target, manifest["name"], SCRATCH_DATABASE)


def test_a_backup_cannot_be_restored_over_the_live_database(settings, target):
    manifest = archive.take(settings, target)
    live = make_url(settings.database_admin_url).database
    with pytest.raises(archive.BackupInvalid, match="scratch database"):
        archive.restore(settings, target, manifest["name"], live)


def _last_chunk_start(data: bytes) -> int:
    position = last = 14                                   # magic and nonce prefix
    while position < len(data):
        last = position
        position += 4 + int.from_bytes(data[position:position + 4], "big")
    return last


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_last", "other_key"])
def test_the_seal_finds_any_change(tmp_path, damage):
    plain, sealed, opened = tmp_path / "plain", tmp_path / "sealed", tmp_path / "opened"
    plain.write_bytes(bytes(range(256)) * 9000)           # a little over two chunks
    key = b"k" * 32
    seal(plain, sealed, key)
    unseal(sealed, opened, key)
    assert opened.read_bytes() == plain.read_bytes()
    data = sealed.read_bytes()
    if damage == "flip":
        sealed.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncate":
        sealed.write_bytes(data[:-10])
    elif damage == "drop_last":
        sealed.write_bytes(data[:_last_chunk_start(data)])
    with pytest.raises(SealBroken):
        unseal(sealed, opened, b"o" * 32 if damage == "other_key" else key)


def test_reconciliation_still_holds_for_the_live_database(engine):
    assert reconcile(engine) == []


def test_a_restored_database_gives_the_application_role_no_more_than_the_live_one(
        settings, target, admin_engine):
    from sqlalchemy import text

    from db import engine as engines

    manifest = archive.take(settings, target)
    archive.restore(settings, target, manifest["name"], SCRATCH_DATABASE)
    held_query = text("""
        SELECT grantee, has_database_privilege(grantee, current_database(), 'TEMP'),
               has_database_privilege(grantee, current_database(), 'CREATE'),
               has_schema_privilege(grantee, 'public', 'CREATE'),
               ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                      WHERE p.pronamespace = 'public'::regnamespace
                        AND has_function_privilege(grantee, p.oid, 'EXECUTE') ORDER BY 1)
          FROM unnest(ARRAY['public', :role]) grantee ORDER BY 1""")
    role = {"role": settings.database_app_role}
    with admin_engine.connect() as conn:
        live = [tuple(row) for row in conn.execute(held_query, role)]
    restored = engines.create(make_url(settings.database_admin_url).set(
        database=SCRATCH_DATABASE).render_as_string(hide_password=False), pooled=False)
    try:
        with restored.connect() as conn:
            held = [tuple(row) for row in conn.execute(held_query, role)]
    finally:
        restored.dispose()
    assert held == live
    assert live == [(settings.database_app_role, False, False, False,
                     ["api_key_allowlist_is_narrow(cidr[])"]), ("public", False, False, False, [])]
