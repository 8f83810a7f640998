"""WebSocket fan-out benchmark: N subscribers to one market's book and trades while
orders flow; the delay from a batch's commit to each delivery. Half subscribe on
``/v1/ws`` (``book:M``, ``trades:M``), half on Binance's combined streams
(``/stream?streams=s@trade/s@depth@100ms``), in the same run, served by the same
processes.

    python -m bench.ws [--subscribers 2000] [--seconds 20] [--web 2]

Starts ``--web`` API processes and one matcher on the embedded servers (database
``exchange_bench_ws``); subscriber processes (gevent) open the sockets, spread
over the web processes; a trader places crossing orders at about 10 a second.
Prints, per protocol, p50 and p95 of the delay between the matcher's batch time (the
native message's ``time``, the Binance trade's ``T``: the same instant) and the moment
each subscriber receives the trade, and how many subscribers held on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_ws")


import config  # noqa: E402
from bench.common import recreate, wait_until_up  # noqa: E402
from db import engine as engines  # noqa: E402
from embedded.services import up  # noqa: E402
from tests.processes import free_port  # noqa: E402

SUBSCRIBER_PROCESSES = 2         # one a protocol
PROTOCOLS = ("native", "binance")
CONNECT_ATTEMPTS_MAX = 5
ORDERS_PER_SECOND = 10


def subscribe(args: tuple) -> tuple[int, list[float]]:
    """One subscriber process: ``count`` sockets in greenlets; returns (held, delays)."""
    from gevent import monkey
    monkey.patch_all()
    import json
    from datetime import datetime

    import gevent
    import websocket

    urls, market, count, deadline, protocol = args
    streams = f"{market.replace('-', '').lower()}@trade/{market.replace('-', '').lower()}" \
        "@depth@100ms"
    delays: list[float] = []
    held, failed = [0], [0]
    reasons: dict[str, int] = {}

    def one(index: int) -> None:
        for attempt in range(CONNECT_ATTEMPTS_MAX):  # as real clients reconnect
            try:
                url = urls[index % len(urls)]
                if protocol == "binance":
                    url = url.replace("/v1/ws", f"/stream?streams={streams}")
                socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
                if protocol == "native":
                    socket.send(json.dumps({"op": "subscribe", "channels": [
                        f"book:{market}", f"trades:{market}"]}))
                break
            except Exception:
                gevent.sleep(0.5 * (attempt + 1))
        else:
            failed[0] += 1
            return
        held[0] += 1
        try:
            socket.settimeout(1)   # pings keep a quiet socket from timing out: look up
            while time.time() < deadline:
                try:
                    message = json.loads(socket.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if message.get("type") == "trades":
                    sent = datetime.fromisoformat(message["time"]).timestamp()
                    delays.append(time.time() - sent)
                elif message.get("data", {}).get("e") == "trade":
                    delays.append(time.time() - message["data"]["T"] / 1000)
        except Exception as error:  # dropped: counted, and the reason kept
            held[0] -= 1
            reasons[type(error).__name__] = reasons.get(type(error).__name__, 0) + 1
        finally:
            socket.close()

    gevent.joinall([gevent.spawn(one, i) for i in range(count)])
    if failed[0] or reasons:
        print(f"subscriber process: {failed[0]} never connected; dropped: {reasons}",
              flush=True)
    return held[0], delays


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--web", type=int, default=2)
    options = parser.parse_args(argv)
    settings = config.load()
    up(settings)
    recreate(settings)
    from tests.trading import create_market, funded_user, place
    admin = engines.create(settings.database_admin_url, pooled=False)
    market = create_market(admin)
    admin.dispose()
    engine = engines.create(settings.database_url, pool_size=2)
    seller = funded_user(engine, market, base="100000")
    buyer = funded_user(engine, market, quote="100000000")
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    ports = [free_port() for _ in range(options.web)]
    env = {**os.environ, "RATE_LIMIT_PER_IP": "100000000/minute",
           "WS_CLIENT_QUEUE_MAX": "10000"}
    log = (settings.var_dir / "log" / "bench-ws-web.log").open("wb")
    processes = [subprocess.Popen([python, "-m", "api.server"], cwd=config.PROJECT_DIR,
                                  env={**env, "PORT": str(port)}, stdout=log,
                                  stderr=subprocess.STDOUT) for port in ports]
    processes.append(subprocess.Popen(
        [str(config.PROJECT_DIR / ".venv" / "bin" / "dramatiq"), "workers.matching.actor",
         "--processes", "1", "--threads", "1", "--queues", "matcher"], cwd=config.PROJECT_DIR,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for port in ports:
            wait_until_up(f"http://127.0.0.1:{port}/healthz")
        urls = [f"ws://127.0.0.1:{port}/v1/ws" for port in ports]
        connect_seconds = max(10, options.subscribers // 100)
        deadline = time.time() + connect_seconds + options.seconds
        share = options.subscribers // SUBSCRIBER_PROCESSES
        with multiprocessing.get_context("spawn").Pool(SUBSCRIBER_PROCESSES) as pool:
            pending = pool.map_async(subscribe, [(urls, market, share, deadline, protocol)
                                                 for protocol in PROTOCOLS])
            time.sleep(connect_seconds)  # let every socket connect and subscribe
            from events.publishing import wake
            number = 0
            while time.time() < deadline - 2:
                number += 1
                place(engine, seller, market, side="sell", type="limit", quantity="0.01",
                      price="100.00")
                place(engine, buyer, market, side="buy", type="limit", quantity="0.01",
                      price="100.00")
                wake(market)
                time.sleep(2 / ORDERS_PER_SECOND)
            results = pending.get(timeout=options.seconds + connect_seconds + 120)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        engine.dispose()
    print(f"{os.cpu_count()} cores; {options.web} web processes; {options.subscribers} "
          f"subscribers asked ({share} a protocol); {number} trades in {options.seconds} s")
    for protocol, (held, found) in zip(PROTOCOLS, results):
        delays = sorted(found) or [0.0]
        print(f"{protocol:8} {held} held to the end; {len(found):,} trade deliveries; delay "
              f"from the matcher's batch to delivery: p50 {statistics.median(delays) * 1000:.0f}"
              f" ms, p95 {delays[int(len(delays) * 0.95)] * 1000:.0f} ms, max "
              f"{delays[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
