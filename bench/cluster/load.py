"""A bounded load from outside the cluster: careful bots that sign limit orders, each with
its own client_order_id, and send an order again (the same id, signed anew) after a
timeout, a broken connection or a 5xx, as the API asks; beside them, a reader of public
market data and a sampler of the replica's lag."""

from __future__ import annotations

import multiprocessing
import random
import ssl
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import requests

from bench.trading import CANCEL_ALL_EVERY, KeepAlive, native_calls, order_request

CALL_TIMEOUT_SECONDS = 5
REFUSALS_KEPT = 5
BOT_PROCESSES = 2
_FORK = multiprocessing.get_context("fork")
ATTEMPTS_MAX = 40                 # sends of one order before the bot gives it up
RETRY_PAUSE_SECONDS = 0.1
# A bot's last order may retry for this long after the deadline (cancel-alls and all).
ANSWER_WAIT_SECONDS_MAX = 3 * ATTEMPTS_MAX * (CALL_TIMEOUT_SECONDS + RETRY_PAUSE_SECONDS)
SAMPLE_EVERY_SECONDS = 0.25
READ_EVERY_SECONDS = 0.1


class Connection(KeepAlive):
    """bench.trading's lean keep-alive connection, over TLS that trusts the edge's own
    certificate (``trust`` it first)."""

    trusted: ssl.SSLContext | None = None

    @classmethod
    def trust(cls, certificate: str) -> None:
        cls.trusted = ssl.create_default_context(cafile=certificate)

    def tls_context(self) -> ssl.SSLContext:  # type: ignore[override]
        assert self.trusted is not None, "Connection.trust(certificate) first"
        return self.trusted


@dataclass
class Bots:
    """What the bots sent and were told, across phases."""

    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    refusals: list[tuple[int, bytes]] = field(default_factory=list)   # a few 4xx, as told
    latencies: list[float] = field(default_factory=list)   # the last run's, in seconds
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Shared with the bots' processes (forked): a run's early end, and a live count.
    stopping: Any = field(default_factory=_FORK.Event)
    acknowledged_live: Any = field(default_factory=lambda: _FORK.Value("q", 0))

    def run(self, url: str | list[str], keys: list[tuple[str, str]], symbols: list[str],
            seconds: float, label: str) -> float:
        """Every bot sends orders for ``seconds`` (or until ``stopping``), from
        ``BOT_PROCESSES`` processes (TLS and signing in one would queue on its GIL);
        returns orders acknowledged a second."""
        urls = [url] if isinstance(url, str) else url
        deadline = time.time() + seconds
        answers = _FORK.Queue()
        children = [_FORK.Process(target=self._process, args=(
            urls, list(enumerate(keys))[n::BOT_PROCESSES], symbols, deadline, label,
            answers), daemon=True) for n in range(min(BOT_PROCESSES, len(keys)))]
        started = time.monotonic()
        for child in children:
            child.start()
        acknowledged, latencies_of_run = 0, []
        for _ in children:
            sent, acked, given_up, statuses, retries, refusals, latencies = answers.get(
                timeout=seconds + ANSWER_WAIT_SECONDS_MAX)
            latencies_of_run += latencies
            self.sent |= sent
            self.acknowledged |= acked
            self.given_up |= given_up
            self.statuses.update(statuses)
            self.retries += retries
            self.refusals = (self.refusals + refusals)[:REFUSALS_KEPT]
            acknowledged += len(acked)
        elapsed = time.monotonic() - started
        for child in children:
            child.join(ANSWER_WAIT_SECONDS_MAX)
        self.latencies = sorted(latencies_of_run)
        return acknowledged / elapsed

    def latency_ms(self, fraction: float) -> float:
        """Of the last run: the time to an answer (retries included) at ``fraction``."""
        if not self.latencies:
            return 0.0
        return round(1000 * self.latencies[int(fraction * (len(self.latencies) - 1))], 1)

    def _process(self, urls: list[str], keys: list[tuple[int, tuple[str, str]]],
                 symbols: list[str], deadline: float, label: str, answers: Any) -> None:
        """In a bots' process: a thread per bot; what they were told, to the parent."""
        self.sent, self.acknowledged, self.given_up = set(), set(), set()
        self.statuses, self.retries, self.refusals, self.latencies = Counter(), 0, [], []
        threads = [threading.Thread(target=self._bot, args=(
            urls[index % len(urls)], key, symbols, deadline, f"{label}-{index}"))
            for index, key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answers.put((self.sent, self.acknowledged, self.given_up, self.statuses,
                     self.retries, self.refusals, self.latencies))

    def _bot(self, url: str, key: tuple[str, str], symbols: list[str], deadline: float,
             label: str) -> None:
        rng = random.Random(label)
        connection: Connection | None = None
        number = 0
        while time.time() < deadline and not self.stopping.is_set():
            number += 1
            if number % CANCEL_ALL_EVERY == 0:
                for symbol in symbols:
                    connection, _ = self._send(connection, url, key, {"cancel_all": symbol})
            order = order_request(rng, symbols, f"{label}-{number}")
            with self.lock:
                self.sent.add(order["client_order_id"])
            started = time.perf_counter()
            connection, status = self._send(connection, url, key, order)
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latencies.append(elapsed)
                self.statuses[str(status)] += 1
                if status == 202:
                    self.acknowledged.add(order["client_order_id"])
                    with self.acknowledged_live.get_lock():
                        self.acknowledged_live.value += 1
                elif status is None:
                    self.given_up.add(order["client_order_id"])
        if connection is not None:
            connection.sock.close()

    def _send(self, connection: Connection | None, url: str, key: tuple[str, str],
              order: dict) -> tuple[Connection | None, int | None]:
        """One order (or cancel-all) until answered below 500; (connection, status)."""
        parsed = urlsplit(url)
        host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https"
                                                             else 80)
        for attempt in range(ATTEMPTS_MAX):
            if attempt:
                with self.lock:
                    self.retries += 1
                time.sleep(RETRY_PAUSE_SECONDS)
            try:
                if connection is None:
                    connection = Connection(host, int(port), tls=url.startswith("https:"))
                    connection.sock.settimeout(CALL_TIMEOUT_SECONDS)
                (method, path, headers, body), = native_calls(*key, order)
                status = connection.call(method, path, headers, body)
                if 400 <= status < 500 and len(self.refusals) < REFUSALS_KEPT:
                    self.refusals.append((status, connection.last_body[:200]))
            except (OSError, ConnectionError, ValueError, AttributeError):
                if connection is not None:
                    connection.sock.close()
                connection = None          # timed out or cut: send again, same id
                continue
            if status < 500:
                return connection, status
        return connection, None


class MarketDataReader:
    """Reads books and trades through the edge while the bots trade."""

    def __init__(self, base_url: str, certificate: str, symbols: list[str]) -> None:
        self.base_url, self.symbols = base_url, symbols
        self.session = requests.Session()
        self.session.verify, self.session.trust_env = certificate, False
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.wait(READ_EVERY_SECONDS):
            for symbol in self.symbols:
                for path in (f"/v1/markets/{symbol}/book?depth=10",
                             f"/v1/markets/{symbol}/trades"):
                    try:
                        answer = self.session.get(self.base_url + path, timeout=5)
                        self.statuses[answer.status_code] += 1
                    except requests.RequestException:
                        self.statuses[0] += 1

    def stop(self) -> Counter[int]:
        self._stop.set()
        self._thread.join(10)
        return self.statuses


def lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


class LagSampler:
    """The replica's distance behind the primary, in WAL bytes (pg_current_wal_lsn on the
    primary against pg_last_wal_replay_lsn on the replica) and as the primary's
    pg_stat_replication.replay_lag, sampled while the load runs."""

    def __init__(self, primary_url: str, replica_url: str) -> None:
        self.primary = psycopg2.connect(primary_url)
        self.replica = psycopg2.connect(replica_url)
        self.primary.autocommit = self.replica.autocommit = True
        self.bytes: list[int] = []
        self.replay_lag_seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_SECONDS):
            try:
                with self.primary.cursor() as primary, self.replica.cursor() as replica:
                    primary.execute("SELECT pg_current_wal_lsn()::text, "
                                    "(SELECT extract(epoch FROM replay_lag) FROM "
                                    "pg_stat_replication LIMIT 1)")
                    written, replay_lag = primary.fetchone()
                    replica.execute("SELECT pg_last_wal_replay_lsn()::text")
                    replayed, = replica.fetchone()
            except psycopg2.Error:
                continue
            self.bytes.append(max(0, lsn(written) - lsn(replayed)))
            if replay_lag is not None:
                self.replay_lag_seconds.append(float(replay_lag))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(10)
        self.primary.close()
        self.replica.close()
        lags = self.replay_lag_seconds or [0.0]
        sizes = self.bytes or [0]
        return {"samples": len(self.bytes), "bytes_median": statistics.median(sizes),
                "bytes_max": max(sizes), "replay_lag_ms_median":
                round(1000 * statistics.median(lags), 1),
                "replay_lag_ms_max": round(1000 * max(lags), 1)}
