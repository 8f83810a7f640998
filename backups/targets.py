"""Where backups go: a target stores one backup's files together and returns them by name.
A directory is the default; ``restic:REPOSITORY`` stores them offsite with restic
(``backups.restic``). Another place is one class with these four members."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

import config


class Target(Protocol):
    encrypts: bool      # True: the target encrypts and authenticates what it stores itself

    def store(self, files: list[tuple[Path, str]], backup: str) -> None:
        """Store ``files`` (source, name) of backup ``backup``: all of them, or none."""

    def get(self, name: str, destination: Path) -> None: ...

    def names(self) -> list[str]: ...


class DirectoryTarget:
    encrypts = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __str__(self) -> str:
        return str(self.directory)

    def store(self, files: list[tuple[Path, str]], backup: str) -> None:
        """Each file in turn, the last (the manifest) marking the backup complete."""
        for source, name in files:
            self.put(source, name)

    def put(self, source: Path, name: str) -> None:
        """Copy ``source`` in under ``name``, whole or not at all."""
        self.directory.mkdir(parents=True, exist_ok=True)
        draft = self.directory / f".{name}.partial"
        shutil.copyfile(source, draft)
        with draft.open("rb") as copied:
            os.fsync(copied.fileno())
        os.replace(draft, self.directory / name)

    def get(self, name: str, destination: Path) -> None:
        found = self.directory / name
        if not found.is_file():
            raise FileNotFoundError(f"no backup file {name} in {self.directory}")
        shutil.copyfile(found, destination)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))


RESTIC_PREFIX = "restic:"


def target_for(settings: config.Settings) -> Target:
    """``BACKUP_TARGET``: a directory path (``file://`` accepted), or ``restic:`` and a
    restic repository (a path, ``sftp:host:/path``, ``rest:https://host/``)."""
    location = settings.backup_target
    if location.startswith(RESTIC_PREFIX):
        from backups.restic import ResticTarget
        return ResticTarget.configured(settings, location.removeprefix(RESTIC_PREFIX))
    return DirectoryTarget(Path(location.removeprefix("file://")).resolve())
