"""Render deploy/nginx's templates: ``{{name}}`` placeholders, each one required, each value
checked so that no setting can break out of its directive."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from api.jsonbody import BODY_BYTES_MAX

TEMPLATES_DIR = Path(__file__).resolve().parent
TEMPLATES = ("exchange.conf", "nginx.conf")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SAFE = re.compile(r"[A-Za-z0-9_.:/\-\[\] ]*")        # no ; { } quotes or newlines


class RenderError(Exception):
    """Raised when a value is missing or could change the configuration's structure."""


@dataclass(frozen=True)
class Edge:
    """What one nginx in front of the exchange needs to know."""

    web_servers: tuple[str, ...]          # host:port of each web process
    public_url: str                       # https://exchange.example (or with :port)
    certificate: str                      # the operator's chain, PEM
    certificate_key: str
    site_root: str                        # site/static
    runtime_dir: str                      # pid, logs, temp files (nginx.conf only)
    server_name: str = "_"
    listen_address: str = "0.0.0.0"
    http_port: int = 80
    https_port: int = 443
    edge_rate: str = "50r/s"              # per client address, beside the application's
    edge_burst: int = 100
    connections_per_address_max: int = 100
    web_max_fails: int = 2
    web_fail_timeout_seconds: int = 10
    websocket_idle_seconds: int = 75      # > 4 heartbeats (WS_HEARTBEAT_SECONDS 15)
    hsts_seconds: int = 63_072_000        # two years
    body_bytes_max: int = BODY_BYTES_MAX
    worker_processes: str = "auto"
    mime_types: str = "/etc/nginx/mime.types"


def values(edge: Edge) -> dict[str, str]:
    if not edge.web_servers:
        raise RenderError("name at least one web process (host:port)")
    if not edge.public_url.startswith("https://"):
        raise RenderError(f"the public URL is https://..., got {edge.public_url!r}")
    found = {name: str(value) for name, value in asdict(edge).items()
             if name != "web_servers"}
    found["public_url"] = edge.public_url.rstrip("/")
    found["public_ws_url"] = "wss://" + found["public_url"].removeprefix("https://")
    found["upstream_servers"] = "\n".join(
        f"    server {_safe('web server', server)} max_fails={edge.web_max_fails} "
        f"fail_timeout={edge.web_fail_timeout_seconds}s;" for server in edge.web_servers)
    for name, value in found.items():
        if name != "upstream_servers":
            _safe(name, value)
    return found


def render(template: str, found: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in found:
            raise RenderError(f"the template names {match.group(1)}, which has no value")
        return found[match.group(1)]
    return _PLACEHOLDER.sub(substitute, template)


def write(edge: Edge, out_dir: Path) -> list[Path]:
    """Render every template into ``out_dir``; the files written."""
    found = values(edge)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATES:
        text = (TEMPLATES_DIR / f"{name}.template").read_text()
        path = out_dir / name
        path.write_text(render(text, found))
        written.append(path)
    return written


def _safe(name: str, value: str) -> str:
    if not _SAFE.fullmatch(value):
        raise RenderError(f"{name} {value!r} holds a character nginx would read as syntax")
    return value
