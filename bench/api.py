"""API benchmark: authenticated GET /v1/balances against a bare Bottle-on-gevent endpoint.

    python -m bench.api [--seconds 10] [--connections 16]

Then signed reads, each request signed afresh (a signature is accepted once, so wrk cannot
replay one): the native ``GET /v1/balances`` with an API key, and the Binance-compatible
``GET /api/v3/account`` and ``GET /api/v3/openOrders``, beside the bare endpoint, all
from the same Python client processes (``--connections`` keep-alive connections).

Needs ``wrk`` (Debian: ``apt-get install wrk``). Starts one ``web`` process on the
embedded servers (database ``exchange_bench_api``) and one bare server, loads
each for the same time with the same connections, and prints requests per
second and latency percentiles. The ratio is the cost of our stack: routing,
rate limits in Redis, session check in PostgreSQL, balances from PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_api")

import requests  # noqa: E402

import config  # noqa: E402
from bench.common import recreate, wait_until_up  # noqa: E402
from db import engine as engines  # noqa: E402
from embedded.services import up  # noqa: E402
from tests.factories import create_currency  # noqa: E402
from tests.processes import free_port  # noqa: E402

WRK_THREADS = 1  # the load generator shares the machine's two cores with the server


def start(command: list[str], url: str, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=config.PROJECT_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    settings = config.load()
    up(settings)
    recreate(settings)
    admin = engines.create(settings.database_admin_url, pooled=False)
    currency = create_currency(admin, scale=8)
    admin.dispose()

    web_port, bare_port = free_port(), free_port()
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    env = {"PORT": str(web_port), "RATE_LIMIT_PER_IP": "100000000/minute",
           "RATE_LIMIT_PER_USER": "100000000/minute"}
    web = start([python, "-m", "api.server"], f"http://127.0.0.1:{web_port}/healthz", env)
    bare = start([python, "-m", "bench.bare_server", str(bare_port)],
                 f"http://127.0.0.1:{bare_port}/bare", {})
    try:
        base = f"http://127.0.0.1:{web_port}"
        requests.post(base + "/v1/users", json={"email": "bench@example.com",
                                                "password": "benchmark password"}, timeout=10)
        token = requests.post(base + "/v1/sessions", json={
            "email": "bench@example.com", "password": "benchmark password"},
            timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for amount in ("1.5", "2.25"):
            requests.post(base + "/v1/faucet", json={"currency": currency, "amount": amount},
                          headers=auth, timeout=10).raise_for_status()
        balances = requests.get(base + "/v1/balances", headers=auth, timeout=10).json()
        assert balances["items"][0]["total"] == str(Decimal("3.75").quantize(Decimal("1E-8")))
        ours = wrk(base + "/v1/balances", options.seconds, options.connections, auth)
        floor = wrk(f"http://127.0.0.1:{bare_port}/bare", options.seconds,
                    options.connections, {})
        created = requests.post(base + "/v1/api-keys", json={"scopes": ["read"], "label": "b"},
                                headers=auth, timeout=10).json()
        key = (created["id"], created["secret"])
        signed = {label: signed_load(url, kind, key, options)
                  for label, url, kind in (
                      ("GET /v1/balances, signed", f"{base}/v1/balances", "native"),
                      ("GET /api/v3/account, signed", f"{base}/api/v3/account", "binance"),
                      ("GET /api/v3/openOrders, signed", f"{base}/api/v3/openOrders",
                       "binance"),
                      ("bare Bottle, same client", f"http://127.0.0.1:{bare_port}/bare",
                       "bare"))}
    finally:
        for process in (web, bare):
            process.terminate()
            process.wait(20)
    print(f"{os.cpu_count()} cores, {options.connections} connections, {options.seconds} s each, "
          f"wrk with {WRK_THREADS} thread on the same machine")
    for label, figures in (("GET /v1/balances, session-authenticated", ours),
                           ("bare Bottle on gevent (TCP_NODELAY)", floor)):
        print(f"{label:<42} {figures['rps']:>9,.0f} req/s   p50 {figures['p50_ms']:6.2f} ms"
              f"   p99 {figures['p99_ms']:6.2f} ms   non-2xx {figures['errors']:.0f}")
    print(f"ratio (ours / bare): {ours['rps'] / floor['rps']:.2f}")
    bare_rps = signed["bare Bottle, same client"]["rps"]
    print("signed, each request signed afresh by the Python client processes:")
    for label, figures in signed.items():
        print(f"{label:<42} {figures['rps']:>9,.0f} req/s   p50 {figures['p50_ms']:6.2f} ms"
              f"   p99 {figures['p99_ms']:6.2f} ms   non-2xx {figures['errors']:.0f}   "
              f"{figures['rps'] / bare_rps:.2f}x bare")


SIGNING_PROCESSES = 2


def signed_load(url: str, kind: str, key: tuple[str, str], options: argparse.Namespace
                ) -> dict[str, float]:
    """``--connections`` keep-alive connections over SIGNING_PROCESSES processes, each
    request signed as its API signs (``kind``: native, binance, or bare: unsigned)."""
    import multiprocessing
    import time

    deadline = time.time() + options.seconds
    share = options.connections // SIGNING_PROCESSES
    with multiprocessing.get_context("spawn").Pool(SIGNING_PROCESSES) as pool:
        results = pool.map(_signed_client, [(url, kind, key, share, deadline)] *
                           SIGNING_PROCESSES)
    latencies = sorted(latency for result in results for latency in result[0])
    return {"rps": len(latencies) / options.seconds,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "errors": float(sum(result[1] for result in results))}


def _signed_client(args: tuple) -> tuple[list[float], int]:
    import hashlib
    import hmac
    import threading
    import time
    from urllib.parse import urlsplit

    from bench.trading import KeepAlive
    from tests.api.client import signature_headers

    url, kind, (key_id, secret), connections, deadline = args
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]

    numbers = iter(range(1 << 62))

    def request() -> tuple[str, dict[str, str]]:
        # Two requests alike in the same millisecond would be one signature, accepted once:
        # a counter makes each one its own (the routes ignore the parameter).
        number = next(numbers)
        if kind == "native":
            path = f"{parts.path}?n={number}"
            return path, signature_headers(key_id, secret, "GET", path)
        if kind == "binance":
            query = f"timestamp={int(time.time() * 1000)}&recvWindow=10000&n={number}"
            signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
            return f"{parts.path}?{query}&signature={signature}", {"X-MBX-APIKEY": key_id}
        return parts.path, {}

    def run() -> None:
        connection = KeepAlive(parts.hostname or "", parts.port or 80)
        while time.time() < deadline:
            path, headers = request()
            started = time.perf_counter()
            status = connection.call("GET", path, headers)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[0] += 1

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


if __name__ == "__main__":
    main(sys.argv[1:])
