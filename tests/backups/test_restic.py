"""Backups offsite with restic (Debian's): to a local repository and to a restic REST server
(rclone's `serve restic`, Debian's package); restored from there into a ledger that
reconciles; retention applied; a damaged repository found by `restic check`."""

import dataclasses
import shutil
import socket
import subprocess
import time

import pytest

from backups import archive
from backups.errors import BackupInvalid
from backups.targets import target_for
from tests.processes import free_port
from tests.trading import create_market, funded_user

SCRATCH_DATABASE = "exchange_restic_restore_check"
pytestmark = pytest.mark.skipif(shutil.which("restic") is None,
                                reason="restic is needed: make test installs Debian's")


def restic_settings(settings, repository: str, **changes):
    return dataclasses.replace(settings, backup_target=f"restic:{repository}",
                               backup_password=b"p" * 32, **changes)


@pytest.fixture
def rest_server(tmp_path):
    """rclone serving a restic REST repository on a free loopback port."""
    assert shutil.which("rclone"), "rclone is needed: make test installs Debian's"
    port = free_port()
    server = subprocess.Popen(["rclone", "serve", "restic", "--addr", f"127.0.0.1:{port}",
                               str(tmp_path / "rest")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "rclone never served"
            time.sleep(0.1)
    yield f"rest:http://127.0.0.1:{port}/exchange"
    server.terminate()
    server.wait(20)


@pytest.mark.parametrize("where", ["local", "rest"])
def test_a_backup_stored_with_restic_restores_to_a_ledger_that_reconciles(
        settings, engine, admin_engine, tmp_path, request, where):
    market = create_market(admin_engine)
    funded_user(engine, market, base="3", quote="100")
    repository = str(tmp_path / "repo") if where == "local" \
        else request.getfixturevalue("rest_server")
    target = target_for(restic_settings(settings, repository))
    manifest = archive.take(settings, target)
    assert manifest["file"] == f"{manifest['name']}.dump"       # restic encrypts: no seal
    assert archive.listed(target) == [manifest["name"]]
    target.check(read_data=True)
    restored = archive.restore(settings, target, manifest["name"], SCRATCH_DATABASE)
    assert restored.discrepancies == []
    assert restored.transfers > 0


def test_retention_keeps_what_the_policy_says_and_prunes_the_rest(settings, tmp_path):
    target = target_for(restic_settings(settings, str(tmp_path / "repo"),
                                        backup_retention={"last": 2}))
    taken = [archive.take(settings, target)["name"] for _ in range(3)]
    assert archive.listed(target) == taken[1:]
    target.check()


def test_a_damaged_repository_is_found_by_check_and_refused_at_restore(settings, tmp_path):
    repository = tmp_path / "repo"
    target = target_for(restic_settings(settings, str(repository)))
    manifest = archive.take(settings, target)
    for pack in (repository / "data").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 1
            pack.write_bytes(bytes(data))
    with pytest.raises(BackupInvalid, match="restic check failed"):
        target.check(read_data=True)
    with pytest.raises(BackupInvalid):
        archive.restore(settings, target, manifest["name"], SCRATCH_DATABASE)


def test_a_restic_target_without_a_password_is_refused(settings):
    with pytest.raises(BackupInvalid, match="BACKUP_PASSWORD"):
        target_for(dataclasses.replace(settings, backup_target="restic:/nowhere",
                                       backup_password=None))
