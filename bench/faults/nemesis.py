"""The faults: which, when and for how long, all chosen by the seed.

    kill      SIGKILL a process (web, matcher, worker, scheduler, maker); supervisord
              starts it again
    pause     SIGSTOP a process for seconds, then SIGCONT (a stalled leader, a worker
              that wakes after its message was given up)
    redis     Redis stopped for seconds and started again, with its data
    redis-empty  the same, coming back empty (its queues and keys gone)
    postgres-fast / postgres-immediate  a clean restart, and a crash with recovery
    cut-postgres / cut-redis       every connection to it closed at once (the link's proxy)
    stall-postgres / stall-redis   nothing moves on any connection to it for seconds
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter

from tests.exchange import Exchange

KINDS = ("kill", "pause", "redis", "redis-empty", "postgres-fast", "postgres-immediate",
         "cut-postgres", "cut-redis", "stall-postgres", "stall-redis")
WEIGHTS = (6, 3, 1, 1, 1, 1, 1, 1, 1, 1)   # the link faults only where links exist
STALL_SECONDS = (0.5, 5.0)
GAP_SECONDS = (1.0, 4.0)          # between two faults
PAUSE_SECONDS = (0.5, 6.0)
REDIS_DOWN_SECONDS = (0.5, 5.0)
TARGETS = ("web", "matcher", "worker", "scheduler", "maker")


class Nemesis(threading.Thread):
    def __init__(self, exchange: Exchange, seed: int, stopping: threading.Event) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.exchange, self.rng, self.stopping = exchange, random.Random(seed), stopping
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[float, str, str]] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            kinds = [(k, w) for k, w in zip(KINDS, WEIGHTS)
                     if self.exchange.links or not k.startswith(("cut", "stall"))]
            while not self.stopping.wait(self.rng.uniform(*GAP_SECONDS)):
                kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
                detail = self.inject(kind)
                if detail is not None:
                    self.injected[kind] += 1
                    self.log.append((time.time(), kind, detail))
        except BaseException as error:   # reported by the run, never hidden
            self.failure = error

    def inject(self, kind: str) -> str | None:
        exchange = self.exchange
        if kind in ("kill", "pause"):
            running = sorted(name for name in exchange.pids() if name.startswith(TARGETS))
            if not running:
                return None
            name = self.rng.choice(running)
            if kind == "kill":
                exchange.kill(name)
                return name
            seconds = self.rng.uniform(*PAUSE_SECONDS)
            pid = exchange.kill(name, signal.SIGSTOP)
            try:
                time.sleep(seconds)
            finally:
                exchange.signal_pid(pid, signal.SIGCONT)
            return f"{name} {seconds:.1f} s"
        if kind.startswith("redis"):
            seconds = self.rng.uniform(*REDIS_DOWN_SECONDS)
            exchange.stop_redis(forget=kind == "redis-empty")
            time.sleep(seconds)
            exchange.start_redis()
            return f"{seconds:.1f} s"
        if kind.startswith("cut"):
            exchange.links[kind.split("-")[1]].cut()
            return "cut"
        if kind.startswith("stall"):
            seconds = self.rng.uniform(*STALL_SECONDS)
            exchange.links[kind.split("-")[1]].stall(seconds)
            return f"{seconds:.1f} s"
        exchange.restart_postgres(kind.split("-")[1])
        return "restarted"
