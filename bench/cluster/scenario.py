"""What the cluster must show under a bounded load: orders per second through nginx and
TLS beside direct, no accepted order lost when a web host dies, a dead matcher host's
markets taken over by the standby within a bound, trades equal to a replay, a clean
reconciliation, and the public market data served by the replica."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, text

from bench.faults.checker import recorded_trades, replay
from bench.trading import setup
from db import engine as engines
from bench.cluster.build import Cluster
from bench.cluster.load import Bots, Connection, LagSampler, MarketDataReader
from ledger.reconcile import reconcile
from workers.matching.runner import lock_key

FAILOVER_SECONDS_MAX = 15         # the stated bound: kill to the standby's first batch
SETTLE_SECONDS_MAX = 60           # for every accepted order to be processed afterwards
POLL_SECONDS = 0.05
ROUNDS = 2                        # of a direct phase and an edge phase
MATCHERS = ("match1", "match2")


def run(cluster: Cluster, *, clients: int, phase_seconds: float, fault_seconds: float,
        unplug: bool = True) -> dict[str, Any]:
    """``unplug``: the matcher host's link goes down before its processes are killed (a
    host that vanishes: no FIN reaches the primary); else they are only killed (a crash:
    the kernel closes their connections)."""
    settings = cluster.settings()
    symbols, keys = setup(settings, clients)
    admin = engines.create(cluster.admin_url(), pool_size=2)
    results: dict[str, Any] = {"clients": clients, "phase_seconds": phase_seconds}
    bots = Bots()
    Connection.trust(str(cluster.certificate))
    try:
        bots.run(cluster.web_urls(), keys, symbols, 1, "warmup")
        reader = MarketDataReader(cluster.public_url, str(cluster.certificate), symbols)
        lag = LagSampler(cluster.admin_url(), cluster.admin_url("replica"))
        try:
            # Alternated, as the machine's speed drifts between phases.
            phases: dict[str, list] = {"direct": [], "edge": []}
            for round_number in range(ROUNDS):
                for name, url in (("direct", cluster.web_urls()),
                                  ("edge", cluster.public_url)):
                    rate = bots.run(url, keys, symbols, phase_seconds,
                                    f"{name}{round_number}")
                    phases[name].append((round(rate, 1), bots.latency_ms(0.5),
                                         bots.latency_ms(0.99)))
            results |= {f"orders_per_second_{name}": [rate for rate, _, _ in figures]
                        for name, figures in phases.items()}
            results |= {f"latency_ms_p50_p99_{name}": [[p50, p99] for _, p50, p99 in figures]
                        for name, figures in phases.items()}
            results["replica_sessions_before_faults"] = _replica_sessions(cluster)
            results |= _faults(cluster, admin, bots, keys, symbols, fault_seconds, unplug)
        finally:
            results["replica_lag"] = lag.stop()
            results["market_data_reads"] = dict(reader.stop())
        results["replica_sessions"] = _replica_sessions(cluster)
        _settle(admin)
        results |= _check(admin, bots, symbols)
    finally:
        admin.dispose()
    return results


def _faults(cluster: Cluster, admin: Engine, bots: Bots, keys: list, symbols: list[str],
            seconds: float, unplug: bool) -> dict[str, Any]:
    """Through the edge: web1's processes are killed after a second; the host leading the
    most markets is unplugged and its processes killed a third of the way in; the load
    goes on until the standby has taken over, and ``seconds / 3`` longer."""
    found: dict[str, Any] = {}
    bound = seconds + 2 * FAILOVER_SECONDS_MAX
    load = threading.Thread(target=bots.run, args=(cluster.public_url, keys, symbols,
                                                   bound, "faults"))
    load.start()
    try:
        time.sleep(1)
        before = bots.acknowledged_live.value
        found["web1_processes_killed"] = cluster.host("web1").kill()
        time.sleep(max(0.0, seconds / 3 - 1))
        found["acknowledged_after_web1_killed"] = bots.acknowledged_live.value - before
        found |= _matcher_failover(cluster, admin, symbols, unplug)
        time.sleep(seconds / 3)
    finally:
        bots.stopping.set()
        load.join()
    return found


def leaders(cluster: Cluster, admin: Engine, symbols: list[str]) -> dict[str, str | None]:
    """Each market's leading matcher host, from the primary: who holds its advisory lock."""
    by_address = {cluster.host(name).address: name for name in MATCHERS}
    with admin.connect() as conn:
        held = {(row.classid, row.objid): str(row.client_addr) for row in conn.execute(text(
            "SELECT l.classid::bigint AS classid, l.objid::bigint AS objid, a.client_addr "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted"))}
    found = {}
    for symbol in symbols:
        key = lock_key(symbol) & 0xFFFF_FFFF_FFFF_FFFF
        found[symbol] = by_address.get(held.get((key >> 32, key & 0xFFFF_FFFF), ""))
    return found


def _matcher_failover(cluster: Cluster, admin: Engine, symbols: list[str], unplug: bool
                      ) -> dict[str, Any]:
    led = leaders(cluster, admin, symbols)
    counts = {name: sum(1 for leader in led.values() if leader == name) for name in MATCHERS}
    victim = max(MATCHERS, key=lambda name: counts[name])
    standby = next(name for name in MATCHERS if name != victim)
    markets = [symbol for symbol, leader in led.items() if leader == victim]
    if unplug:
        cluster.host(victim).link_down()          # no FIN reaches the primary
    cluster.host(victim).kill()
    # From here the host is gone: a batch it matched before (its clock read earlier) may
    # still commit after, but with an earlier processed_at.
    killed_at = datetime.now(timezone.utc)
    failover: dict[str, float | None] = {symbol: None for symbol in markets}
    deadline = time.monotonic() + 2 * FAILOVER_SECONDS_MAX
    while any(v is None for v in failover.values()) and time.monotonic() < deadline:
        now = leaders(cluster, admin, markets)
        with admin.connect() as conn:
            for symbol in markets:
                if failover[symbol] is not None or now[symbol] != standby:
                    continue
                first = conn.execute(text(
                    "SELECT min(processed_at) FROM matcher_requests WHERE market = :m "
                    "AND processed_at > :t"), {"m": symbol, "t": killed_at}).scalar()
                if first is not None:
                    failover[symbol] = round((first - killed_at).total_seconds(), 3)
        time.sleep(POLL_SECONDS)
    return {"leaders_before": led, "matcher_host_killed": victim, "standby": standby,
            "matcher_fault": "unplugged and killed" if unplug else "killed",
            "failover_seconds": failover, "failover_seconds_bound": FAILOVER_SECONDS_MAX}


def _replica_sessions(cluster: Cluster) -> dict[str, Any]:
    """The market-data sessions the web hosts hold on the replica, and what it answered."""
    replica = engines.create(cluster.admin_url("replica"), pooled=False)
    try:
        with replica.connect() as conn:
            sessions = {str(row.client_addr): row.n for row in conn.execute(text(
                "SELECT client_addr, count(*) AS n FROM pg_stat_activity "
                "WHERE application_name = 'exchange-market-data' GROUP BY client_addr"))}
            in_recovery = conn.execute(text("SELECT pg_is_in_recovery()")).scalar()
            committed = conn.execute(text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()")).scalar()
    finally:
        replica.dispose()
    hosts = {cluster.host(name).address: name for name in ("web1", "web2")}
    return {"in_recovery": in_recovery, "read_transactions": committed,
            "sessions_by_host": {hosts.get(address, address): n
                                 for address, n in sessions.items()}}


def _settle(admin: Engine) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS_MAX
    while True:
        with admin.connect() as conn:
            waiting = conn.execute(text(
                "SELECT count(*) FROM matcher_requests WHERE processed_at IS NULL")).scalar()
        if not waiting or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _check(admin: Engine, bots: Bots, symbols: list[str]) -> dict[str, Any]:
    with admin.connect() as conn:
        rows = {row.client_order_id: row for row in conn.execute(text(
            "SELECT client_order_id, count(*) AS n, min(status) AS status FROM orders "
            "WHERE client_order_id = ANY(:ids) GROUP BY client_order_id"),
            {"ids": sorted(bots.sent)})}
        trades = {symbol: (recorded_trades(conn, symbol), replay(conn, symbol))
                  for symbol in symbols}
    lost = sorted(bots.acknowledged - set(rows))
    twice = sorted(cid for cid, row in rows.items() if row.n > 1)
    unprocessed = sorted(cid for cid, row in rows.items() if row.status == "accepted")
    discrepancies = [str(d) for d in reconcile(admin)]
    return {"orders_sent": len(bots.sent), "orders_acknowledged": len(bots.acknowledged),
            "orders_given_up": len(bots.given_up), "retries": bots.retries,
            "answers": dict(bots.statuses), "refusals": bots.refusals, "lost": lost[:10],
            "lost_count": len(lost),
            "twice": twice[:10], "unprocessed": unprocessed[:10],
            "trades": {symbol: len(recorded) for symbol, (recorded, _) in trades.items()},
            "trades_equal_replay": all(r == p for r, p in trades.values()),
            "reconcile_discrepancies": discrepancies[:10]}


def failures(results: dict[str, Any]) -> list[str]:
    """What the run must not show; empty when it all held."""
    found = []
    if results["lost_count"] or results["twice"] or results["unprocessed"]:
        found.append("orders lost, doubled or unprocessed")
    if not results["trades_equal_replay"]:
        found.append("trades differ from the replay")
    if results["reconcile_discrepancies"]:
        found.append("reconcile() found differences")
    times = results["failover_seconds"]
    if not times or any(t is None or t > FAILOVER_SECONDS_MAX for t in times.values()):
        found.append(f"failover not within {FAILOVER_SECONDS_MAX} s: {times}")
    if not results["acknowledged_after_web1_killed"]:
        found.append("no order acknowledged after web1 was killed")
    if not results["replica_sessions"]["sessions_by_host"] or \
            not results["market_data_reads"].get(200):
        found.append("the replica served no market data")
    return found
