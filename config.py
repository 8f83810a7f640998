"""The one place that reads the environment.

``DATABASE_URL`` and ``REDIS_URL`` point at production servers. When they are
unset the project uses its embedded servers (see ``embedded/``), with data under
``VAR_DIR``. Every other setting has a documented default; a malformed value
fails at start, never later.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

PROJECT_DIR = Path(__file__).resolve().parent
EMBEDDED_DATABASE_DEFAULT = "exchange"
APP_ROLE_DEFAULT = "exchange_app"
EMBEDDED_POSTGRES_SUPERUSER = "postgres"


class ConfigError(Exception):
    """Raised when an environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    database_url: str          # the application's role: no UPDATE/DELETE on the ledger
    database_admin_url: str    # the owner's role: migrations only
    database_app_role: str
    redis_url: str
    embedded_postgres: bool    # True when we start our own PostgreSQL
    embedded_redis: bool       # True when we start our own Redis
    var_dir: Path
    bind_host: str
    port: int
    site_port: int
    site_origin: str           # the website's origin, the only one CORS lets in
    api_public_url: str        # where browsers reach the API
    demo_mode: bool
    secret_key: bytes = field(repr=False)  # signs session tokens, encrypts API key secrets
    rate_limit_per_ip: str     # e.g. "1200/minute", for every request from one address
    rate_limit_per_user: str   # for every request of one user or key
    receive_window_ms: int     # how far a signed request's timestamp may be from now
    ws_client_queue_max: int   # messages waiting for one WebSocket before it is dropped
    ws_client_lag_max_ms: int  # ...or once the oldest of them has waited this long
    market_data_staleness_ms: int  # public answers kept at most this long (api.market_cache)
    ws_heartbeat_seconds: int  # a heartbeat on a quiet WebSocket this often
    ws_messages_per_second: int  # client messages one WebSocket may send a second...
    ws_message_burst: int        # ...and at once after a pause
    node_urls: Mapping[str, str] = field(repr=False)  # NODE_URL_<CODE>: each currency's node
    wallet_seed: bytes | None = field(repr=False)     # derives the keys of key-holding drivers
    address_cooling_off_seconds: int  # a new withdrawal address is usable after this long
    backup_key: bytes | None = field(repr=False)      # seals backups (keep it apart from them)
    backup_target: str         # where backups go: a directory, or restic:REPOSITORY
    backup_interval_seconds: int  # the scheduler takes a backup this often; 0: never
    matcher_batch_requests: int   # requests a matcher settles in one transaction
    order_writers: int            # a web process's concurrent order-placing transactions
    demo_maker_state: Path        # the demo maker's accounts and keys (mode 0600)
    demo_maker_seed: int          # its reference prices' random walk
    demo_maker_markets: tuple[str, ...]  # the markets it quotes; empty: every listed one
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # ^ whose X-Forwarded-For is believed (api.client_address); none by default
    backup_password: bytes | None = field(default=None, repr=False)  # a restic repository's
    backup_retention: Mapping[str, int] = field(default_factory=dict)  # restic forget --keep-*
    # A streaming replica for the public market-data reads, which may be a little behind;
    # DATABASE_URL when unset (load() fills it in).
    database_replica_url: str = ""


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


SECRET_KEY_BYTES_MIN = 32
TRUSTED_PROXIES_MAX = 50


def _networks(env: Mapping[str, str], name: str
              ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``), comma or space apart."""
    entries = (env.get(name) or "").replace(",", " ").split()
    if len(entries) > TRUSTED_PROXIES_MAX:
        raise ConfigError(f"{name} names at most {TRUSTED_PROXIES_MAX} networks")
    try:
        return tuple(ipaddress.ip_network(entry) for entry in entries)
    except ValueError as error:
        raise ConfigError(f"{name}: {error} (write 10.0.0.5 or 10.0.0.0/24)") from None


BACKUP_KEEP_DEFAULT = {"daily": 7, "weekly": 5, "monthly": 12}
BACKUP_KEEP_KINDS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def _retention(env: Mapping[str, str], name: str) -> dict[str, int]:
    """``daily=7,weekly=5,monthly=12``: what ``restic forget --keep-KIND N`` keeps."""
    raw = env.get(name)
    if not raw:
        return dict(BACKUP_KEEP_DEFAULT)
    policy: dict[str, int] = {}
    for part in raw.replace(",", " ").split():
        kind, equals, count = part.partition("=")
        if kind not in BACKUP_KEEP_KINDS or not equals or not count.isdigit() \
                or not 1 <= int(count) <= 10_000:
            raise ConfigError(f"{name} reads like \"daily=7,weekly=5\" (kinds: "
                              f"{', '.join(BACKUP_KEEP_KINDS)}), got {part!r}")
        policy[kind] = int(count)
    return policy


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse

    value = env.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name} must read like \"1200/minute\", got {value!r}") from None
    return value


def _secret(env: Mapping[str, str], name: str, var_dir: Path, embedded: bool) -> bytes | None:
    """``name`` (hex, 32 bytes or more); with the embedded database, one is made once
    under ``var/`` so that a newcomer needs no setup. None when unset otherwise."""
    raw = env.get(name) or ""
    path = var_dir / name.lower()
    if not raw and embedded:
        if not path.exists():
            # Written aside, then linked into place: processes starting together
            # all end up reading the one key that won.
            var_dir.mkdir(parents=True, exist_ok=True)
            draft = var_dir / f"{name.lower()}.{os.getpid()}"
            draft.write_text(secrets.token_hex(SECRET_KEY_BYTES_MIN))
            draft.chmod(0o600)
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            draft.unlink()
        raw = path.read_text().strip()
    if not raw:
        return None
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ConfigError(f"{name} must be hexadecimal") from None
    if len(key) < SECRET_KEY_BYTES_MIN:
        raise ConfigError(f"{name} must hold at least {SECRET_KEY_BYTES_MIN} bytes "
                          f"({2 * SECRET_KEY_BYTES_MIN} hex digits)")
    return key


def embedded_postgres_url(var_dir: Path, database: str,
                          user: str = EMBEDDED_POSTGRES_SUPERUSER) -> str:
    """The embedded PostgreSQL's URL: its socket is in ``var_dir/run`` (embedded/ starts it)."""
    return f"postgresql://{user}@/{database}?host={var_dir.resolve() / 'run'}"


def embedded_redis_url(var_dir: Path, database: int = 0) -> str:
    """The embedded Redis's URL: its socket is ``var_dir/run/redis.sock``."""
    return f"unix://{var_dir.resolve() / 'run' / 'redis.sock'}?db={database}"


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    var_dir = Path(env.get("VAR_DIR") or PROJECT_DIR / "var").resolve()
    app_role = env.get("DATABASE_APP_ROLE") or APP_ROLE_DEFAULT
    database_url = env.get("DATABASE_URL") or ""
    redis_url = env.get("REDIS_URL") or ""
    embedded_postgres, embedded_redis = not database_url, not redis_url
    admin_default = database_url
    if embedded_postgres:
        name = env.get("EMBEDDED_DATABASE") or EMBEDDED_DATABASE_DEFAULT
        database_url = embedded_postgres_url(var_dir, name, user=app_role)
        admin_default = embedded_postgres_url(var_dir, name)
    if embedded_redis:
        redis_url = embedded_redis_url(var_dir, _integer(env, "EMBEDDED_REDIS_DATABASE", 0, 0, 15))
    bind_host = env.get("BIND_HOST") or "127.0.0.1"
    port = _integer(env, "PORT", 8000, 1, 65535)
    site_port = _integer(env, "SITE_PORT", 8080, 1, 65535)
    demo_mode = _boolean(env, "DEMO_MODE", default=embedded_postgres)
    return Settings(
        database_url=database_url,
        database_admin_url=env.get("DATABASE_ADMIN_URL") or admin_default,
        database_app_role=app_role,
        redis_url=redis_url,
        embedded_postgres=embedded_postgres,
        embedded_redis=embedded_redis,
        var_dir=var_dir,
        bind_host=bind_host,
        port=port,
        site_port=site_port,
        site_origin=env.get("SITE_ORIGIN") or f"http://{bind_host}:{site_port}",
        api_public_url=env.get("API_PUBLIC_URL") or f"http://{bind_host}:{port}",
        demo_mode=demo_mode,
        secret_key=_secret(env, "SECRET_KEY", var_dir, embedded_postgres) or _missing("SECRET_KEY"),
        rate_limit_per_ip=_rate(env, "RATE_LIMIT_PER_IP", "1200/minute"),
        rate_limit_per_user=_rate(env, "RATE_LIMIT_PER_USER", "2400/minute"),
        receive_window_ms=_integer(env, "RECEIVE_WINDOW_MS", 5000, 100, 60_000),
        ws_client_queue_max=_integer(env, "WS_CLIENT_QUEUE_MAX", 1000, 1, 100_000),
        ws_client_lag_max_ms=_integer(env, "WS_CLIENT_LAG_MAX_MS", 2000, 100, 60_000),
        market_data_staleness_ms=_integer(env, "MARKET_DATA_STALENESS_MS", 500, 0, 60_000),
        ws_heartbeat_seconds=_integer(env, "WS_HEARTBEAT_SECONDS", 15, 1, 300),
        ws_messages_per_second=_integer(env, "WS_MESSAGES_PER_SECOND", 10, 1, 1000),
        ws_message_burst=_integer(env, "WS_MESSAGE_BURST", 20, 1, 10_000),
        node_urls={name.removeprefix("NODE_URL_"): url for name, url in env.items()
                   if name.startswith("NODE_URL_") and url},
        wallet_seed=_secret(env, "WALLET_SEED", var_dir, embedded_postgres),
        address_cooling_off_seconds=_integer(env, "ADDRESS_COOLING_OFF_SECONDS",
                                             60 if demo_mode else 86_400, 0, 30 * 86_400),
        backup_key=_secret(env, "BACKUP_KEY", var_dir, embedded_postgres),
        backup_target=env.get("BACKUP_TARGET") or str(var_dir / "backups"),
        backup_interval_seconds=_integer(env, "BACKUP_INTERVAL_SECONDS", 6 * 3600, 0,
                                         7 * 86_400),
        matcher_batch_requests=_integer(env, "MATCHER_BATCH_REQUESTS", 500, 1, 5000),
        order_writers=_integer(env, "ORDER_WRITERS", 2, 1, 16),
        demo_maker_state=Path(env.get("DEMO_MAKER_STATE") or var_dir / "demo-maker.json"),
        demo_maker_seed=_integer(env, "DEMO_MAKER_SEED", 21, 0, 2**31 - 1),
        demo_maker_markets=tuple(name.strip() for name in
                                 (env.get("DEMO_MAKER_MARKETS") or "").split(",")
                                 if name.strip()),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        backup_password=_secret(env, "BACKUP_PASSWORD", var_dir, embedded_postgres),
        backup_retention=_retention(env, "BACKUP_RETENTION"),
        database_replica_url=env.get("DATABASE_REPLICA_URL") or database_url,
    )


def _missing(name: str) -> bytes:
    raise ConfigError(f"{name} must be set (hex, {SECRET_KEY_BYTES_MIN} bytes or more)")
