"""API benchmark: every read that bots poll, beside a bare Bottle-on-gevent endpoint.

    python -m bench.api [--seconds 5] [--connections 16] [--only PATTERN]

Starts one ``web`` process and one matcher on the embedded servers (database
``exchange_bench_api``, Redis database 3) and one bare server; makes a market with resting orders and a
trade, a user with a website session and a read-scoped API key; then loads each read for
the same time over the same connections and prints requests per second, p50 and p99,
the ratio to bare, and the CPU per request of the ``web`` process, Redis and PostgreSQL
(read from ``/proc/<pid>/stat`` of the processes this run started, before and after).

- With wrk (Debian: ``apt-get install wrk``): bare, the session-authenticated native reads
  and the public market data (native and Binance), all beside the wrk bare figure.
- Signed reads, each request signed afresh by Python client processes (a signature is
  accepted once, so wrk cannot replay one): native with an API key and the Binance
  twins, beside the bare endpoint loaded by the same client.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from typing import Callable
from urllib.parse import urlsplit

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_api")
# A Redis database of its own, emptied at each start: the log-ins of earlier runs count
# against the log-in limit (10 in 15 minutes from one address).
os.environ.setdefault("EMBEDDED_REDIS_DATABASE", "3")

import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

import config  # noqa: E402
from bench.common import recreate, wait_until_up  # noqa: E402
from bench.process_cpu import ProcessCpu  # noqa: E402
from db import engine as engines  # noqa: E402
from db.schema import markets  # noqa: E402
from embedded.services import up  # noqa: E402
from tests.factories import create_currency, deposit  # noqa: E402
from tests.processes import free_port  # noqa: E402

WRK_THREADS = 1  # the load generator shares the machine's two cores with the server
SIGNING_PROCESSES = 2
SETTLE_SECONDS_MAX = 30
Load = Callable[[str], dict[str, float]]


def start(command: list[str], url: str | None, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=config.PROJECT_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if url is not None:
        wait_until_up(url)
    return process


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{seconds}s",
               "--latency"] + [arg for name, value in headers.items()
                               for arg in ("-H", f"{name}: {value}")] + [url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percentile in ("50", "99"):
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)", output).groups()
        figures[f"p{percentile}_ms"] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["errors"] = float(non_2xx.group(1)) if non_2xx else 0.0
    return figures


def pids(settings: config.Settings, web: subprocess.Popen) -> dict[str, tuple[int, bool]]:
    """The processes whose CPU is read: this run's web process, and the embedded
    servers' Redis and PostgreSQL (its postmaster and children)."""
    redis_pid = int((settings.var_dir / "run" / "redis.pid").read_text().split()[0])
    postmaster = int((settings.var_dir / "postgres" / "postmaster.pid").read_text()
                     .split()[0])
    return {"web": (web.pid, False), "redis": (redis_pid, False),
            "postgres": (postmaster, True)}


def setup(base: str, admin_url: str) -> dict[str, str]:
    """A market with resting orders on both sides and one trade; the reader's session,
    read key, one of its orders; returns what the loads need."""
    admin = engines.create(admin_url, pooled=False)
    base_code, quote_code = create_currency(admin, scale=8), create_currency(admin, scale=2)
    symbol = f"{base_code}-{quote_code}"
    with admin.begin() as conn:
        conn.execute(insert(markets).values(
            symbol=symbol, base=base_code, quote=quote_code, tick_size=Decimal("0.01"),
            lot_size=Decimal("0.001"), min_notional=Decimal("1"), maker_fee_bps=10,
            taker_fee_bps=20))
    tokens = []
    for number in range(2):
        email = f"bench{number}@example.com"
        requests.post(base + "/v1/users", json={"email": email,
                                                "password": "benchmark password"}, timeout=10)
        session = requests.post(base + "/v1/sessions", json={
            "email": email, "password": "benchmark password"}, timeout=10)
        assert session.status_code == 201, session.text
        tokens.append(session.json()["token"])
    with admin.begin() as conn:
        for user_id in conn.execute(text("SELECT id FROM users ORDER BY id")).scalars():
            deposit(conn, user_id, base_code, Decimal("1000"))
            deposit(conn, user_id, quote_code, Decimal("1000000"))
    admin.dispose()
    reader, other = ({"Authorization": f"Bearer {token}"} for token in tokens)

    def place(who: dict[str, str], side: str, price: str) -> dict:
        answer = requests.post(base + "/v1/orders", headers=who, timeout=10, json={
            "market": symbol, "side": side, "type": "limit", "quantity": "0.5",
            "price": price})
        answer.raise_for_status()
        return answer.json()

    resting = [place(reader, "buy", f"{90 + n}.00") for n in range(5)] + \
        [place(reader, "sell", f"{110 + n}.00") for n in range(5)]
    place(other, "sell", "100.00")
    place(reader, "buy", "100.00")
    deadline = time.monotonic() + SETTLE_SECONDS_MAX
    while len(requests.get(base + "/v1/orders?status=open", headers=reader,
                           timeout=10).json()["items"]) < len(resting):
        assert time.monotonic() < deadline, "the matcher did not open the orders"
        time.sleep(0.2)
    while not requests.get(f"{base}/v1/markets/{symbol}/trades", timeout=10).json()["items"]:
        assert time.monotonic() < deadline, "the matcher did not trade"
        time.sleep(0.2)
    key = requests.post(base + "/v1/api-keys", json={"scopes": ["read"], "label": "bench"},
                        headers=reader, timeout=10).json()
    return {"symbol": symbol, "token": tokens[0], "order_id": resting[0]["id"],
            "key_id": key["id"], "secret": key["secret"]}


def reads(base: str, bare: str, made: dict[str, str]) -> tuple[list, list]:
    """(label, url, session header or None) for wrk; (label, url, kind) for the signer."""
    symbol, order_id = made["symbol"], made["order_id"]
    binance_symbol = symbol.replace("-", "")
    session = {"Authorization": f"Bearer {made['token']}"}
    by_wrk = [
        ("bare Bottle on gevent", bare, None),
        ("GET /v1/balances, session", f"{base}/v1/balances", session),
        ("GET /v1/orders?status=open, session", f"{base}/v1/orders?status=open", session),
        ("GET /v1/orders/{id}, session", f"{base}/v1/orders/{order_id}", session),
        ("GET /v1/markets/M/book", f"{base}/v1/markets/{symbol}/book", None),
        ("GET /v1/markets/M/ticker", f"{base}/v1/markets/{symbol}/ticker", None),
        ("GET /v1/tickers", f"{base}/v1/tickers", None),
        ("GET /v1/markets/M/trades", f"{base}/v1/markets/{symbol}/trades", None),
        ("GET /v1/markets/M/candles", f"{base}/v1/markets/{symbol}/candles", None),
        ("GET /api/v3/depth", f"{base}/api/v3/depth?symbol={binance_symbol}", None),
        ("GET /api/v3/ticker/24hr", f"{base}/api/v3/ticker/24hr?symbol={binance_symbol}",
         None),
        ("GET /api/v3/klines", f"{base}/api/v3/klines?symbol={binance_symbol}&interval=1m",
         None),
    ]
    by_signer = [
        ("bare Bottle, same client", bare, "bare"),
        ("GET /v1/balances, signed", f"{base}/v1/balances", "native"),
        ("GET /v1/orders?status=open, signed", f"{base}/v1/orders?status=open", "native"),
        ("GET /v1/orders/{id}, signed", f"{base}/v1/orders/{order_id}", "native"),
        ("GET /api/v3/account", f"{base}/api/v3/account", "binance"),
        ("GET /api/v3/openOrders", f"{base}/api/v3/openOrders", "binance"),
        ("GET /api/v3/order", f"{base}/api/v3/order?symbol={binance_symbol}&orderId="
         f"{order_id}", "binance"),
    ]
    return by_wrk, by_signer


def measured(cpu: ProcessCpu, seconds: int, load: Callable[[], dict[str, float]]
             ) -> dict[str, float]:
    cpu.start()
    figures = load()
    cpu.stop()
    figures.update({f"cpu_{kind}_ms": ms for kind, ms in
                    cpu.per_request_ms(figures["rps"] * seconds).items()})
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", default="", help="only the reads whose label has this")
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    settings = config.load()
    up(settings)
    recreate(settings)
    redis.Redis.from_url(settings.redis_url).flushdb()
    web_port, bare_port = free_port(), free_port()
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    dramatiq = str(config.PROJECT_DIR / ".venv" / "bin" / "dramatiq")
    env = {"PORT": str(web_port), "RATE_LIMIT_PER_IP": "100000000/minute",
           "RATE_LIMIT_PER_USER": "100000000/minute"}
    web = start([python, "-m", "api.server"], f"http://127.0.0.1:{web_port}/healthz", env)
    matcher = start([dramatiq, "workers.matching.actor", "--processes", "1", "--threads", "1",
                     "--queues", "matcher"], None, {"PORT": str(free_port())})
    bare_server = start([python, "-m", "bench.bare_server", str(bare_port)],
                        f"http://127.0.0.1:{bare_port}/bare", {})
    results: list[tuple[str, str, dict[str, float]]] = []
    try:
        base, bare = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{bare_port}/bare"
        made = setup(base, settings.database_admin_url)
        matcher.terminate()     # nothing trades during the loads: its CPU stays out
        matcher.wait(20)
        cpu = ProcessCpu(pids(settings, web))
        # The bare rows' "web" is the bare server: the floor of a request's CPU.
        cpu_bare = ProcessCpu({**pids(settings, web), "web": (bare_server.pid, False)})
        by_wrk, by_signer = reads(base, bare, made)
        # Unmeasured: the web process opens its reader connections (16) on the first
        # concurrent reads, each a PostgreSQL backend started: that was the first read's p99.
        wrk(by_wrk[1][1], 2, options.connections, by_wrk[1][2] or {})
        key = (made["key_id"], made["secret"])
        loads: dict[str, Callable[[str, object], dict[str, float]]] = {
            "wrk": lambda url, headers: wrk(url, options.seconds, options.connections,
                                            headers or {}),  # type: ignore[arg-type]
            "signer": lambda url, kind: signed_load(url, str(kind), key, options)}
        for client, listed in (("wrk", by_wrk), ("signer", by_signer)):
            floor = listed[0]
            # Bare before each read and after the last: this machine's speed moves within
            # a run, so each read is compared with the bare loads on either side of it.
            for label, url, how in listed[1:]:
                if options.only not in label:
                    continue
                for row in (floor, (label, url, how)):
                    results.append((client, row[0], measured(
                        cpu_bare if row[1] == bare else cpu, options.seconds,
                        lambda: loads[client](row[1], row[2]))))
            results.append((client, floor[0], measured(
                cpu_bare, options.seconds, lambda: loads[client](floor[1], floor[2]))))
    finally:
        for process in (web, bare_server, matcher):
            process.terminate()
            process.wait(20)
    report(results, options)


def report(results: list[tuple[str, str, dict[str, float]]],
           options: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} cores, {options.connections} connections, {options.seconds} s "
          f"each, load generators on the same machine; CPU ms per request by process; each "
          "read's ratio is to the mean of the bare loads just before and after it")
    for client in ("wrk", "signer"):
        print({"wrk": f"wrk, {WRK_THREADS} thread:",
               "signer": f"each request signed afresh by {SIGNING_PROCESSES} Python "
                         "processes, beside bare from the same client:"}[client])
        rows = [(label, figures) for c, label, figures in results if c == client]
        bares = [figures["rps"] for label, figures in rows if label.startswith("bare")]
        if bares:
            print(f"  {rows[0][0]:<38} {min(bares):>8,.0f} to {max(bares):,.0f} req/s over "
                  f"{len(bares)} loads, cpu web {rows[0][1]['cpu_web_ms']:.3f}")
        for index, (label, figures) in enumerate(rows):
            if label.startswith("bare"):
                continue
            floor = (rows[index - 1][1]["rps"] + rows[index + 1][1]["rps"]) / 2
            print(f"  {label:<38} {figures['rps']:>8,.0f} req/s {figures['rps'] / floor:5.2f}x"
                  f" (bare {floor:,.0f})  p50 {figures['p50_ms']:6.2f}  p99 "
                  f"{figures['p99_ms']:6.2f} ms  non-2xx {figures['errors']:.0f}  cpu web "
                  f"{figures['cpu_web_ms']:.3f} redis {figures['cpu_redis_ms']:.3f} "
                  f"pg {figures['cpu_postgres_ms']:.3f}")


def signed_load(url: str, kind: str, key: tuple[str, str], options: argparse.Namespace
                ) -> dict[str, float]:
    """``--connections`` keep-alive connections over SIGNING_PROCESSES processes, each
    request signed as its API signs (``kind``: native, binance, or bare: unsigned)."""
    import multiprocessing

    share = options.connections // SIGNING_PROCESSES
    with multiprocessing.get_context("spawn").Pool(SIGNING_PROCESSES) as pool:
        # Each process loads for --seconds from when it is ready (starting one, on a busy
        # machine, took longer than a whole run).
        results = pool.map(_signed_client, [(url, kind, key, share, options.seconds)] *
                           SIGNING_PROCESSES)
    latencies = sorted(latency for result in results for latency in result[0])
    return {"rps": len(latencies) / options.seconds,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "errors": float(sum(result[1] for result in results))}


def _signed_client(args: tuple) -> tuple[list[float], int]:
    import threading

    from bench.trading import KeepAlive
    from tests.api.client import signature_headers

    url, kind, (key_id, secret), connections, seconds = args
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    numbers = iter(range(1 << 62))
    process = os.getpid()

    def request() -> tuple[str, dict[str, str]]:
        # Two requests alike in the same millisecond would be one signature, accepted once:
        # a counter makes each one its own (the routes ignore the parameter).
        number = f"{process}-{next(numbers)}"   # each client process its own
        if kind == "native":
            path = f"{parts.path}?{parts.query + '&' if parts.query else ''}n={number}"
            return path, signature_headers(key_id, secret, "GET", path)
        if kind == "binance":
            query = (parts.query + "&" if parts.query else "") + \
                f"timestamp={int(time.time() * 1000)}&recvWindow=10000&n={number}"
            signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
            return f"{parts.path}?{query}&signature={signature}", {"X-MBX-APIKEY": key_id}
        return parts.path, {}

    def run() -> None:
        connection = KeepAlive(parts.hostname or "", parts.port or 80)
        while time.time() < deadline:
            path, headers = request()
            started = time.perf_counter()
            try:
                status = connection.call("GET", path, headers)
            except (ConnectionError, OSError, AttributeError) as error:
                print(f"{path}: {error!r}", file=sys.stderr)
                errors[0] += 1
                connection = KeepAlive(parts.hostname or "", parts.port or 80)
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[0] += 1

    threads = [threading.Thread(target=run) for _ in range(connections)]
    deadline = time.time() + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


if __name__ == "__main__":
    main(sys.argv[1:])
