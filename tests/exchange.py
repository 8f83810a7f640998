"""The whole exchange as ``make run`` starts it (``bin/run-exchange``: its own embedded
PostgreSQL and Redis, migrations, demo data, every Procfile process under supervisord),
in a var directory of its own, on free ports: what a fault can be done to without
touching the other tests' servers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import requests
from supervisor.xmlrpc import SupervisorTransport

import config
from db import engine as engines
from embedded import EmbeddedPostgres, EmbeddedRedis, services
from tests.link_proxy import LinkProxy
from tests.processes import free_port
from tools.supervise import concurrency, procfile

START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 60
# The test session's settings (tests/conftest.py) name its own database: not this one's.
_SESSION_ONLY = ("EMBEDDED_DATABASE", "EMBEDDED_REDIS_DATABASE", "DATABASE_URL",
                 "DATABASE_ADMIN_URL", "REDIS_URL", "VAR_DIR", "PORT", "SITE_PORT")


def fresh_var_dir(settings: config.Settings, name: str) -> Path:
    """An empty var directory for an exchange of its own, beside the test session's
    servers (not under pytest's temporary directory: another pytest session resets that
    one's permissions, and PostgreSQL runs as a user of its own that must reach it)."""
    path = settings.var_dir / "exchanges" / name
    if path.exists():
        EmbeddedPostgres(path).stop()
        EmbeddedRedis(path).stop()
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


class Exchange:
    """``linked``: every process reaches PostgreSQL and Redis through a ``LinkProxy`` of
    its own (``links["postgres"]``, ``links["redis"]``) that a test can cut or stall; the
    servers are then started here, and the processes are told their URLs as an operator's
    would be (no longer embedded, so the secrets and demo mode are passed too)."""

    def __init__(self, var_dir: Path, *, linked: bool = False, **env: str) -> None:
        self.var_dir = var_dir.resolve()
        self.port, self.site_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**{k: v for k, v in os.environ.items() if k not in _SESSION_ONLY},
                    "VAR_DIR": str(self.var_dir), "PORT": str(self.port),
                    "SITE_PORT": str(self.site_port), **env}
        self.links: dict[str, LinkProxy] = {}
        if linked:
            self.env |= self._link()
        self.settings = config.load(self.env)
        self.postgres, self.redis = EmbeddedPostgres(self.var_dir), EmbeddedRedis(self.var_dir)
        self.log_path = self.var_dir / "run.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["bin/run-exchange"], cwd=config.PROJECT_DIR, env=self.env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_until_ready()
        self.engine = engines.create(self.settings.database_admin_url, pooled=False)

    def _link(self) -> dict[str, str]:
        embedded = config.load(self.env)        # makes the secrets under var/ once
        services.up(embedded)
        run, link = self.var_dir / "run", self.var_dir / "link"
        self.links = {
            "postgres": LinkProxy(link / ".s.PGSQL.5432", run / ".s.PGSQL.5432"),
            "redis": LinkProxy(link / "redis.sock", run / "redis.sock")}
        secrets = {name: getattr(embedded, name.lower()) for name in
                   ("SECRET_KEY", "WALLET_SEED", "BACKUP_KEY", "BACKUP_PASSWORD")}
        return {"DATABASE_URL": embedded.database_url.replace(f"host={run}", f"host={link}"),
                "DATABASE_ADMIN_URL": embedded.database_admin_url.replace(
                    f"host={run}", f"host={link}"),
                "REDIS_URL": embedded.redis_url.replace(str(run), str(link)),
                "DEMO_MODE": "true",
                **{name: value.hex() for name, value in secrets.items() if value is not None}}

    # State ---------------------------------------------------------------------

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        try:
            return requests.get(self.url + "/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_until_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not (self.ready() and len(self.pids()) == self._process_count()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the exchange never became ready:\n{self.output()[-5000:]}")
            time.sleep(0.2)

    def pids(self) -> dict[str, int]:
        """Each running process's PID by its supervisord name (``web-0``, ``matcher-0``...)."""
        socket = self.var_dir / "run" / "supervisor.sock"
        transport = SupervisorTransport(None, None, f"unix://{socket}")
        try:
            infos = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport) \
                .supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault):
            return {}
        finally:
            transport.close()
        return {info["name"]: info["pid"] for info in infos if info["statename"] == "RUNNING"}

    def _process_count(self) -> int:
        wanted = concurrency(self.env.get("CONCURRENCY", ""))
        return sum(wanted.get(name, 1) for name, _ in procfile(config.PROJECT_DIR / "Procfile"))

    # Faults --------------------------------------------------------------------

    def web_urls(self) -> list[str]:
        """Every ``web`` process's address (their ports follow one another)."""
        count = concurrency(self.env.get("CONCURRENCY", "")).get("web", 1)
        return [f"http://127.0.0.1:{self.port + n}" for n in range(count)]

    def kill(self, name: str, signum: int = signal.SIGKILL) -> int:
        """Send ``signum`` to a process's group (SIGKILL: as a crash); returns its PID."""
        pid = self.pids()[name]
        self.signal_pid(pid, signum)
        return pid

    @staticmethod
    def signal_pid(pid: int, signum: int) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass   # it ended meanwhile

    def restart_postgres(self, mode: str) -> None:
        self.postgres.restart(mode)

    def stop_redis(self, *, forget: bool = False) -> None:
        """Stop Redis; ``forget``: and delete what it kept, so it comes back empty."""
        self.redis.stop()
        if forget:
            for path in self.redis.data_dir.rglob("*"):
                if path.is_file():
                    path.unlink()

    def start_redis(self) -> None:
        self.redis.start()

    # End -----------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM to the runner, which stops every process and then the servers."""
        self.engine.dispose()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._log.close()
        for link in self.links.values():   # the servers were started here, not by the runner
            link.close()
        if self.links:
            self.redis.stop()
            self.postgres.stop()
        return code
