"""A ``web`` process's share of the shared rate limits: requests counted here between
two exchanges with Redis, so that a caller far from its limit costs no round trip.

Every request is counted in Redis, in the sliding windows of the ``limits`` library's
own keys (so its window statistics, such as a refusal's ``Retry-After``, read the same
counts). A request is counted *here*, and sent with the others of its caller at the
next sync (every ``SYNC_SECONDS``), only while all of these hold:

- Redis told this process the caller's shared count less than ``KNOWN_SECONDS`` ago;
- that count, with what this process counted since, is below ``LOCAL_SHARE`` of the
  limit;
- fewer than ``BURST_SHARE`` of the limit wait here for the next sync.

Otherwise the request asks Redis itself, carrying what waits here, and Redis decides:
every refusal is Redis's, on the shared count. Near its limit a caller is therefore
counted exactly as if each request asked; far from it, each process may admit at most
``BURST_SHARE`` of the limit beyond what the others have counted in one sync interval.
Limits under ``1 / BURST_SHARE`` requests (the log-in's, the tests') always ask.

If Redis stops answering, no count is refreshed, and within ``KNOWN_SECONDS`` every
request asks again (and fails with 503, as before). A process killed between two syncs
loses at most ``SYNC_SECONDS`` of its counts.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import redis
from limits import RateLimitItem

log = logging.getLogger("api.rate_counts")

SYNC_SECONDS = 0.1
KNOWN_SECONDS = 1.0
LOCAL_SHARE = 0.5
BURST_SHARE = 0.05
COUNTS_MAX = 100_000            # then those asked again anyway are forgotten

# The ``limits`` library's sliding window (its acquire_sliding_window.lua: the current
# window shifts into the previous one when it ends; the count is the previous window's,
# weighted by how much of it still overlaps, plus the current one's), counting ARGV[3]
# requests already admitted and admitting ARGV[4] more if the limit allows; answers
# {admitted, the weighted count after}.
WINDOW_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local counted = tonumber(ARGV[3])
local asked = tonumber(ARGV[4])
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
if previous_ttl < 0 then
    previous_ttl = 0
end
local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
local admitted = 0
if asked > 0 and weighted + counted + asked <= limit then
    admitted = asked
end
local amount = counted + admitted
if amount > 0 then
    if redis.call('exists', KEYS[2]) == 1 then
        redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
    end
end
return {admitted, weighted + amount}
"""
WINDOW_SCRIPT_SHA = hashlib.sha1(WINDOW_SCRIPT.encode()).hexdigest()


class Count:
    """One caller's count under one limit, as this process knows it."""

    __slots__ = ("keys", "amount", "expiry", "known", "known_at", "waiting", "sent")

    def __init__(self, keys: tuple[str, str], item: RateLimitItem) -> None:
        self.keys = keys                  # Redis's: the previous and the current window
        self.amount, self.expiry = item.amount, item.get_expiry()
        self.known = 0                    # the shared count Redis last answered
        self.known_at = float("-inf")     # when that was asked (monotonic)
        self.waiting = 0                  # counted here, to send
        self.sent = 0                     # sent, not yet answered

    def admits_here(self, now: float) -> bool:
        return now - self.known_at < KNOWN_SECONDS and \
            self.waiting + 1 <= self.amount * BURST_SHARE and \
            self.known + self.sent + self.waiting + 1 <= self.amount * LOCAL_SHARE


class RateCounts:
    """The counts of one process. ``send`` sends Redis commands in one round trip and
    answers each (``api.coalesced.Coalesced.send``); ``load_script`` loads
    ``WINDOW_SCRIPT`` into a Redis that forgot it."""

    def __init__(self, send: Any, load_script: Any) -> None:
        self._send, self._load_script = send, load_script
        self._counts: dict[tuple, Count] = {}
        self._to_sync: set[tuple] = set()
        self._due = threading.Event()
        self._syncer: threading.Thread | None = None
        self._lock = threading.Lock()

    def count(self, key: tuple, item: RateLimitItem, redis_keys: Any) -> Count:
        count = self._counts.get(key)
        if count is None:
            if len(self._counts) >= COUNTS_MAX:
                self._forget_idle()
            count = self._counts[key] = Count(redis_keys(), item)
        return count

    def counted_here(self, key: tuple, count: Count) -> bool:
        """Count one request here if ``count`` allows it without asking Redis."""
        if not count.admits_here(time.monotonic()):
            return False
        count.waiting += 1
        self._to_sync.add(key)
        if self._syncer is None:
            with self._lock:
                if self._syncer is None:
                    self._syncer = threading.Thread(target=self._sync_forever, daemon=True,
                                                    name="rate-counts")
                    self._syncer.start()
        self._due.set()
        return True

    def asking(self, count: Count, asked: int) -> tuple:
        """The command that sends what waits of ``count`` and asks for ``asked`` more."""
        counted, count.waiting = count.waiting, 0
        count.sent += counted
        return ("EVALSHA", WINDOW_SCRIPT_SHA, 2, *count.keys, count.amount, count.expiry,
                counted, asked), counted, time.monotonic()

    def answered(self, count: Count, counted: int, asked_at: float, answer: Any) -> bool:
        """Take Redis's ``answer`` to ``asking``: whether what it asked was admitted. An
        error answer puts what it sent back to wait, and is raised."""
        count.sent -= counted
        if isinstance(answer, Exception):
            count.waiting += counted
            raise answer
        admitted, weighted = answer
        count.known, count.known_at = int(weighted), asked_at
        return bool(admitted)

    def ask(self, commands: list[tuple]) -> list[Any]:
        """``send`` with the window script loaded again if Redis forgot it (a restart):
        only the script's calls failed, and they are sent once more."""
        answers = self._send([command for command, _, _ in commands])
        if any(_forgotten(answer) for answer in answers):
            self._load_script()
            again = [index for index, answer in enumerate(answers) if _forgotten(answer)]
            for index, answer in zip(again, self._send([commands[i][0] for i in again])):
                answers[index] = answer
        return answers

    def _sync_forever(self) -> None:
        while True:
            self._due.wait()
            time.sleep(SYNC_SECONDS)
            self._due.clear()
            try:
                self.sync()
            except Exception as error:   # Redis away: what waits is sent at the next sync
                log.warning("could not send the rate counts: %s", error)

    def sync(self) -> None:
        """Send every count that waits here, and learn the shared counts."""
        keys, self._to_sync = self._to_sync, set()
        counts = [count for count in map(self._counts.get, keys)
                  if count is not None and count.waiting]
        if not counts:
            return
        asked = [self.asking(count, 0) for count in counts]
        try:
            answers = self.ask(asked)
        except Exception as error:
            answers = [error] * len(asked)
        failed = None
        for count, (_, counted, asked_at), answer in zip(counts, asked, answers):
            try:
                self.answered(count, counted, asked_at, answer)
            except Exception as error:
                failed = error
        if failed is not None:
            self._to_sync.update(keys)
            raise failed

    def _forget_idle(self) -> None:
        """Drop what is known of callers with nothing waiting or sent that would be asked
        again anyway (their count is older than ``KNOWN_SECONDS``)."""
        now = time.monotonic()
        for key in [key for key, count in self._counts.items()
                    if not count.waiting and not count.sent and
                    now - count.known_at >= KNOWN_SECONDS]:
            del self._counts[key]


def _forgotten(answer: Any) -> bool:
    return isinstance(answer, redis.exceptions.NoScriptError)
