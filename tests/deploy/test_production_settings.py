"""deploy/'s production settings hold up against the real servers and tools: the alert
rules pass promtool and name only metrics the exchange exports, the PostgreSQL fragment
names only real settings, Redis starts with its configuration, and each systemd unit runs
the Procfile's command."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import redis
from sqlalchemy import text

import config
from embedded.redis import REDIS_SERVER_PATH
from observability import metrics
from scheduler import jobs
from tests.processes import free_port, procfile
from tests.trading import create_market

DEPLOY = config.PROJECT_DIR / "deploy"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported() -> set[str]:
    """Every sample name observability.metrics exports."""
    names = set()
    for value in vars(metrics).values():
        kind = getattr(value, "_type", None)
        if kind in SUFFIXES and not isinstance(value, type):
            names |= {value._name + suffix for suffix in SUFFIXES[kind]}
    return names


def test_the_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus) is not installed: make test installs it")
    checked = subprocess.run([promtool, "check", "rules", str(DEPLOY / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 13 rules found" in checked.stdout


def test_the_alert_rules_name_only_metrics_the_exchange_exports():
    named = set(re.findall(r"\bexchange_[a-z_]+", (DEPLOY / "alerts.yml").read_text()))
    assert named and named <= exported(), named - exported()
    for needed in ("exchange_reconciliation_discrepancies", "exchange_wallet_shortfall",
                   "exchange_matcher_backlog", "exchange_backup_last_success_timestamp_seconds",
                   "exchange_markets_halted"):
        assert needed in named


def test_a_halted_market_shows_in_its_gauge(engine, admin_engine, settings):
    market = create_market(admin_engine)
    jobs.observe(engine, redis.Redis.from_url(settings.redis_url))
    before = metrics.MARKETS_HALTED._value.get()
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE markets SET status = 'halted' WHERE symbol = :s"), {"s": market})
    jobs.observe(engine, redis.Redis.from_url(settings.redis_url))
    assert metrics.MARKETS_HALTED._value.get() == before + 1


def test_the_postgresql_fragment_names_only_settings_postgresql_has(admin_engine):
    lines = (DEPLOY / "postgresql.conf").read_text().splitlines()
    named = {line.split("=")[0].strip() for line in lines
             if "=" in line and not line.lstrip().startswith("#")}
    with admin_engine.connect() as conn:
        known = set(conn.execute(text("SELECT name FROM pg_settings")).scalars())
    assert len(named) > 30 and named <= known, named - known


def test_redis_starts_with_its_configuration_and_keeps_nothing_on_disk(tmp_path):
    port = free_port()
    server = subprocess.Popen([str(REDIS_SERVER_PATH), str(DEPLOY / "redis.conf"),
                               "--port", str(port), "--bind", "127.0.0.1", "--dir",
                               str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, socket_timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    finally:
        server.terminate()
        server.wait(20)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind, unit", [("web", "exchange-web@.service"),
                                        ("matcher", "exchange-matcher@.service"),
                                        ("worker", "exchange-worker@.service"),
                                        ("scheduler", "exchange-scheduler.service")])
def test_each_systemd_unit_runs_the_procfiles_command_and_restarts(kind, unit):
    text_of_unit = (DEPLOY / "systemd" / unit).read_text()
    command = re.search(r"^ExecStart=(.*)$", text_of_unit, re.M).group(1)
    assert command == procfile()[kind].replace(".venv/", "/opt/exchange/.venv/")
    assert re.search(r"^Restart=always$", text_of_unit, re.M)
