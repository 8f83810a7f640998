"""Where backups go: a target stores and returns files by name. A directory is the
default; another place (object storage, a remote host) is one class here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class DirectoryTarget:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

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


def target_for(location: str) -> DirectoryTarget:
    """``BACKUP_TARGET``: a directory path (``file://`` accepted)."""
    return DirectoryTarget(Path(location.removeprefix("file://")).resolve())
