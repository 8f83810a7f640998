"""Backups offsite with restic (Debian's package): one restic snapshot per backup holding
its dump and manifest, so a backup is stored whole or not at all; restic's encryption and
authentication in place of ``backups.sealing``, which would defeat its deduplication
(sealed, every dump is new random bytes); retention by ``BACKUP_RETENTION`` applied with
``forget --prune`` after each backup; and ``restic check`` for the repository's integrity.

The repository's password is ``BACKUP_PASSWORD``; keep a copy apart from the repository
and from the servers (without it nothing can be restored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import config
from backups.errors import BackupInvalid

RESTIC = "restic"
HOST = "exchange"              # the snapshots' host: retention groups by it, not by machine
TAG = "exchange-backup"
STAGING = "exchange-backup"    # the folder each snapshot holds
RESTIC_TIMEOUT_SECONDS = 3600
SNAPSHOTS_MAX = 10_000         # bounds what one listing reads


class ResticTarget:
    encrypts = True

    def __init__(self, repository: str, password: bytes, retention: Mapping[str, int],
                 cache_dir: Path) -> None:
        self.repository, self.retention = repository, dict(retention)
        self._env = {**os.environ, "RESTIC_REPOSITORY": repository,
                     "RESTIC_PASSWORD": password.hex(), "RESTIC_CACHE_DIR": str(cache_dir)}

    @classmethod
    def configured(cls, settings: config.Settings, repository: str) -> ResticTarget:
        if settings.backup_password is None:
            raise BackupInvalid("BACKUP_PASSWORD must be set for a restic target "
                                "(hex, 32 bytes or more)")
        return cls(repository, settings.backup_password, settings.backup_retention,
                   settings.var_dir / "restic-cache")

    def __str__(self) -> str:
        return f"restic:{self.repository}"

    def store(self, files: list[tuple[Path, str]], backup: str) -> None:
        self._initialized()
        with tempfile.TemporaryDirectory(prefix="restic-") as scratch:
            staging = Path(scratch) / STAGING
            staging.mkdir()
            for source, name in files:
                shutil.copyfile(source, staging / name)
            self._run("backup", "--host", HOST, "--tag", TAG, "--tag", f"backup={backup}",
                      "--json", ".", cwd=staging)
        self.forget()

    def get(self, name: str, destination: Path) -> None:
        backup = name.split(".", 1)[0]
        snapshot = self._snapshots().get(backup)
        if snapshot is None:
            raise FileNotFoundError(f"no backup {backup} in {self}")
        with destination.open("wb") as out:
            # Backed up as "." from the staging folder: the files are at the snapshot's root.
            self._run("dump", snapshot["id"], f"/{name}", stdout=out)

    def names(self) -> list[str]:
        """Each snapshot's manifest (what ``archive.listed`` looks for), oldest first."""
        return [f"{backup}.manifest.json" for backup in self._snapshots()]

    def forget(self) -> None:
        """Apply the retention policy and prune what no snapshot kept needs."""
        keep = [f"--keep-{kind}={count}" for kind, count in sorted(self.retention.items())]
        if keep:
            self._run("forget", "--host", HOST, "--tag", TAG, "--group-by", "host",
                      "--prune", *keep)

    def check(self, *, read_data: bool = False) -> None:
        """``restic check``: the repository's structure, and with ``read_data`` every pack
        read back and authenticated; BackupInvalid if anything is wrong."""
        self._run("check", *(["--read-data"] if read_data else []))

    def _snapshots(self) -> dict[str, dict]:
        self._initialized()
        found = json.loads(self._run("snapshots", "--host", HOST, "--tag", TAG, "--json"))
        by_backup = {}
        for snapshot in sorted(found[:SNAPSHOTS_MAX], key=lambda s: s["time"]):
            for tag in snapshot.get("tags", []):
                if tag.startswith("backup="):
                    by_backup[tag.removeprefix("backup=")] = snapshot
        return by_backup

    def _initialized(self) -> None:
        probe = subprocess.run([RESTIC, "cat", "config"], env=self._env, capture_output=True,
                               timeout=RESTIC_TIMEOUT_SECONDS)
        if probe.returncode != 0:
            # Version 2: compressed. The dumps go in uncompressed (pg_dump --compress=0) so
            # that unchanged tables deduplicate between backups; restic compresses them.
            try:
                self._run("init", "--repository-version", "2")
            except BackupInvalid as error:      # it was there: say why it could not be read
                raise BackupInvalid(f"{self} cannot be opened: "
                                    f"{probe.stderr.decode(errors='replace').strip()[-2000:]}"
                                    ) from error

    def _run(self, *arguments: str, cwd: Path | None = None, stdout=None) -> str:  # type: ignore[no-untyped-def]
        if shutil.which(RESTIC) is None:
            raise BackupInvalid("restic is not installed (Debian: apt-get install restic)")
        result = subprocess.run([RESTIC, "--quiet", *arguments], env=self._env, cwd=cwd,
                                stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=RESTIC_TIMEOUT_SECONDS)
        if result.returncode != 0:
            raise BackupInvalid(f"restic {arguments[0]} failed on {self}: "
                                f"{result.stderr.decode(errors='replace').strip()[-2000:]}")
        return result.stdout.decode() if stdout is None else ""
