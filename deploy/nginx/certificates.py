"""A self-signed certificate and key (openssl) for tests and for trying the edge out; in
production the operator's own certificates (e.g. from an ACME client) are named instead."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

VALID_DAYS = 30
OPENSSL_TIMEOUT_SECONDS = 60


def self_signed(out_dir: Path, name: str) -> tuple[Path, Path]:
    """A P-256 pair for ``name`` (a host name or an IP address): (certificate, key)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    certificate, key = out_dir / "edge.crt", out_dir / "edge.key"
    try:
        ipaddress.ip_address(name)
        alternative = f"IP:{name}"
    except ValueError:
        alternative = f"DNS:{name}"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(certificate), "-days", str(VALID_DAYS),
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={alternative}"],
        check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_SECONDS)
    key.chmod(0o600)
    return certificate, key
