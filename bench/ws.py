"""WebSocket fan-out benchmark: N subscribers to one market's book and trades while a
trade commits every quarter second; the delay from each batch's commit to each delivery.
Half subscribe on ``/v1/ws`` (``book:M``, ``trades:M``), half on Binance's combined
streams (``/stream?streams=s@trade/s@depth@100ms``), in the same run and process.

    python -m bench.ws [--subscribers 1000,2000,4000] [--seconds 20] [--web 1]
                       [--stalled 0] [--client-processes 4] [--trades-per-second 4]
                       [--compare /work/wt/main]   # a before and after in the same run

Starts one matcher on the embedded servers (database ``exchange_bench_ws``) and, for each
subscriber count in turn, fresh ``--web`` API processes and ``--client-processes``
subscriber processes (raw sockets in gevent, ``bench.ws_client``: the load generator
shares the machine, so it is kept cheap, and its CPU is printed beside the server's).
Once every socket is subscribed, a trader crosses orders for ``--seconds``; then the
subscribers read for a few seconds more and stop. With ``--compare TREE`` each phase runs
twice, first with the web process of another checkout (its ``api/``, on this one's
servers), then with this one's.

Prints, per protocol: trade deliveries expected (the phase's trades, counted in the
database, times the subscribers held) and received, p50/p95/p99/max of the delay between
the matcher's batch time (the native message's ``time``, the Binance trade's ``T``: the
same instant) and each delivery, and how the sockets that ended early ended
(``slow_consumer`` among them); then the CPU of the web processes and of the clients as
a share of one core. ``--stalled N`` adds N subscribers that never read after
subscribing: each should end with ``slow_consumer`` while the readers stay on time.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import os
import subprocess
import sys
import time
from array import array

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_ws")


import config  # noqa: E402
from bench.common import recreate, wait_until_up  # noqa: E402
from db import engine as engines  # noqa: E402
from embedded.services import up  # noqa: E402
from tests.processes import free_port  # noqa: E402

PROTOCOLS = ("native", "binance")
DRAIN_SECONDS = 3            # the subscribers read this long after the last trade
RESULTS_TIMEOUT_SECONDS = 60


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", default="1000,2000,4000",
                        help="subscriber counts, one phase each, comma-separated")
    parser.add_argument("--seconds", type=int, default=20, help="trading time per phase")
    parser.add_argument("--web", type=int, default=1, help="web processes")
    parser.add_argument("--stalled", type=int, default=0,
                        help="subscribers that stop reading once subscribed")
    parser.add_argument("--client-processes", type=int, default=4,
                        help="subscriber processes, the protocols taking turns")
    parser.add_argument("--trades-per-second", type=float, default=4)
    parser.add_argument("--protocols", default="native,binance",
                        help="native, binance or both: subscribers are split over them")
    parser.add_argument("--compare", metavar="TREE", default=None,
                        help="another checkout (e.g. a worktree of main): each phase runs "
                        "first with its web process, then with this one's, on the same servers")
    options = parser.parse_args(argv)
    protocols = options.protocols.split(",")
    settings = config.load()
    up(settings)
    recreate(settings)
    from tests.trading import create_market, funded_user
    admin = engines.create(settings.database_admin_url, pooled=False)
    market = create_market(admin)
    admin.dispose()
    engine = engines.create(settings.database_url, pool_size=2)
    traders = (funded_user(engine, market, base="100000"),
               funded_user(engine, market, quote="100000000"))
    matcher = subprocess.Popen(
        [str(config.PROJECT_DIR / ".venv" / "bin" / "dramatiq"), "workers.matching.actor",
         "--processes", "1", "--threads", "1", "--queues", "matcher"], cwd=config.PROJECT_DIR,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{os.cpu_count()} cores; {options.web} web process(es); {options.client_processes} "
          f"client processes; a trade every {1 / options.trades_per_second:.2f} s for "
          f"{options.seconds} s a phase", flush=True)
    try:
        trees = ([options.compare] if options.compare else []) + [str(config.PROJECT_DIR)]
        for count in [int(c) for c in options.subscribers.split(",")]:
            for tree in trees:
                phase(settings, engine, tree, market, traders, count, protocols, options)
    finally:
        matcher.terminate()
        matcher.wait(30)
        engine.dispose()


def phase(settings: config.Settings, engine, tree: str, market: str, traders: tuple,
          count: int, protocols: list[str], options: argparse.Namespace) -> None:
    """``count`` subscribers of the web process(es) of the checkout ``tree``."""
    import psutil
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    ports = [free_port() for _ in range(options.web)]
    # VAR_DIR: another checkout's web process uses this one's servers and secrets.
    env = {**os.environ, "RATE_LIMIT_PER_IP": "100000000/minute",
           "VAR_DIR": str(settings.var_dir)}
    log = (settings.var_dir / "log" / "bench-ws-web.log").open("ab")
    webs = [subprocess.Popen([python, "-m", "api.server"], cwd=tree,
                             env={**env, "PORT": str(port)}, stdout=log,
                             stderr=subprocess.STDOUT) for port in ports]
    clients: list[subprocess.Popen] = []
    try:
        for port in ports:
            wait_until_up(f"http://127.0.0.1:{port}/healthz")
        n = options.client_processes
        for index in range(n):
            readers = count // n + (index < count % n)
            stalled = options.stalled // n + (index < options.stalled % n)
            clients.append(subprocess.Popen(
                [python, "-m", "bench.ws_client", "127.0.0.1", str(ports[index % len(ports)]),
                 market, protocols[index % len(protocols)], str(readers), str(stalled)],
                cwd=config.PROJECT_DIR, stdout=subprocess.PIPE, text=True))
        held = 0
        for client in clients:   # each says "ready N" once its sockets are subscribed
            line = client.stdout.readline().split()
            if line[:1] != ["ready"]:
                raise RuntimeError(f"a client process failed before it was ready: {line}")
            held += int(line[1])
        servers = [psutil.Process(web.pid) for web in webs]
        cpu_before = [_cpu(s) for s in servers]
        trades_before = _trades(engine, market)
        started = time.monotonic()
        trade(engine, market, traders, options.seconds, options.trades_per_second)
        time.sleep(DRAIN_SECONDS)
        wall = time.monotonic() - started
        server_cpu = sum(_cpu(s) - before for s, before in zip(servers, cpu_before))
        for client in clients:
            client.send_signal(signal.SIGUSR1)
        found = [json.loads(client.communicate(timeout=RESULTS_TIMEOUT_SECONDS)[0])
                 for client in clients]
        for f in found:
            f["delays"] = base64.b64decode(f["delays"])
        trades = _trades(engine, market) - trades_before
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        for web in webs:
            web.terminate()
        for web in webs:
            web.wait(30)
    report(tree, count, options, held, trades, wall, server_cpu, found, protocols)


def trade(engine, market: str, traders: tuple, seconds: float, per_second: float) -> None:
    """A crossing pair every 1/per_second s: one trade each."""
    from events.publishing import wake
    from tests.trading import place
    seller, buyer = traders
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while next_at < end:
        place(engine, seller, market, side="sell", type="limit", quantity="0.01",
              price="100.00")
        place(engine, buyer, market, side="buy", type="limit", quantity="0.01", price="100.00")
        wake(market)
        next_at += 1 / per_second
        time.sleep(max(0.0, next_at - time.monotonic()))


def report(tree: str, count: int, options: argparse.Namespace, held: int, trades: int,
           wall: float, server_cpu: float, found: list[dict], protocols: list[str]) -> None:
    print(f"\n{count} subscribers ({', '.join(protocols)}) + {options.stalled} stalled, "
          f"{held} held; {trades} trades; web process of {tree} at {_commit(tree)}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    everything = array("d")
    expected_all = received_all = 0
    for protocol in protocols:
        mine = [f for f in found if f["protocol"] == protocol]
        delays = array("d")
        for f in mine:
            delays.frombytes(f["delays"])
        everything.extend(delays)
        subscribers = sum(f["held"] for f in mine)
        expected, received = trades * subscribers, len(delays)
        expected_all, received_all = expected_all + expected, received_all + received
        ended = _merged(f["ended"] for f in mine)
        stalled = _merged(f["stalled_ended"] for f in mine)
        never = sum(f["never_connected"] for f in mine)
        print(f"  {protocol:8} {subscribers} held ({never} never connected); deliveries "
              f"{expected:,} expected, {received:,} received; {_percentiles(delays)}; "
              f"readers ended early: {ended or 'none'}; stalled ended: {stalled or 'none'}")
    client_cpu = sum(f["cpu_seconds"] for f in found)
    print("  each client process: " + "; ".join(
        f"{f['protocol']} {f['held']} sockets {len(f['delays']) // 8:,} deliveries "
        f"{f['cpu_seconds'] / wall:.0%} CPU" for f in found))
    print(f"  all      deliveries {expected_all:,} expected, {received_all:,} received; "
          f"{_percentiles(everything)}")
    print(f"  CPU over {wall:.0f} s: web {server_cpu / wall:.0%} of a core "
          f"({server_cpu * 1000 / max(1, received_all) * 1000:.0f} ms per 1,000 deliveries), "
          f"clients {client_cpu / wall:.0%} ({len(found)} processes)", flush=True)


def _percentiles(delays: array) -> str:
    if not delays:
        return "no deliveries"
    ordered = sorted(delays)

    def at(share: float) -> str:
        return f"{ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000:,.0f}"
    return f"delay p50 {at(0.5)} ms, p95 {at(0.95)} ms, p99 {at(0.99)} ms, max {at(1.0)} ms"


def _merged(counts) -> dict[str, int]:
    merged: dict[str, int] = {}
    for one in counts:
        for code, n in one.items():
            merged[code] = merged.get(code, 0) + n
    return merged


def _commit(tree: str) -> str:
    found = subprocess.run(["git", "-C", tree, "log", "-1", "--format=%h"],
                           capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "api"],
                           capture_output=True, text=True).stdout.strip()
    return found.stdout.strip() + (" (api/ changed since)" if dirty else "")


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _trades(engine, market: str) -> int:
    from sqlalchemy import func, select

    from db.schema import trades
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(trades).where(
            trades.c.market == market)).scalar()


if __name__ == "__main__":
    main(sys.argv[1:])
