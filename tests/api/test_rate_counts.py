"""Rate limits counted in the process between syncs with Redis (``api.rate_counts``),
against the real Redis: every request reaches Redis's count, refusals are Redis's and
exact near the limit, several processes together stay within their stated bound, and a
Redis that forgot everything (a restart) is counted again."""

import time
import uuid

import pytest
import redis

from api import rate_counts
from api.errors import ApiError
from api.ratelimit import RateLimiter


@pytest.fixture
def limiters(settings):
    made = []

    def make() -> RateLimiter:
        made.append(RateLimiter(settings.redis_url))
        return made[-1]
    yield make


def shared_count(limiter: RateLimiter, limit: str, identity: tuple[str, ...]) -> int:
    item = limiter._item(limit)
    previous, current = limiter._window_keys(item, identity)
    client = limiter._storage.get_connection()
    return int(client.get(previous) or 0) + int(client.get(current) or 0)


def admitted(limiter: RateLimiter, limit: str, identity: tuple[str, ...], number: int
             ) -> list[bool]:
    answers = []
    for _ in range(number):
        try:
            limiter.admit([(limit, identity)])
            answers.append(True)
        except ApiError as refused:
            assert (refused.status, refused.code) == (429, "rate_limited")
            answers.append(False)
    return answers


def test_requests_far_from_the_limit_are_counted_here_and_all_reach_redis(limiters):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "100000/minute"
    sent_before = []
    original = limiter.counts._send
    limiter.counts._send = lambda commands: sent_before.append(len(commands)) or \
        original(commands)
    assert admitted(limiter, limit, identity, 500) == [True] * 500
    # The first asked Redis; the rest were counted here, a few round trips between them.
    assert len(sent_before) < 50
    limiter.counts.sync()
    assert shared_count(limiter, limit, identity) == 500


def test_near_its_limit_a_caller_is_refused_exactly_at_the_limit(limiters):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "400/minute"
    assert admitted(limiter, limit, identity, 403) == [True] * 400 + [False] * 3
    limiter.counts.sync()
    assert shared_count(limiter, limit, identity) == 400


def test_small_limits_always_ask_redis(limiters):
    limiter, identity = limiters(), ("login-ip", uuid.uuid4().hex)
    other = limiters()
    assert admitted(limiter, "10/minute", identity, 6) == [True] * 6
    # Nothing waits in the first process: the second sees all six at once.
    assert admitted(other, "10/minute", identity, 5) == [True] * 4 + [False]


def test_several_processes_admit_at_most_their_burst_share_beyond_the_limit(limiters):
    processes = [limiters() for _ in range(4)]
    identity, limit, amount = ("caller", uuid.uuid4().hex), "1000/minute", 1000
    answers = []
    for _ in range(400):              # interleaved as concurrent processes would be
        for limiter in processes:
            answers += admitted(limiter, limit, identity, 1)
    for limiter in processes:
        limiter.counts.sync()
    assert sum(answers) >= amount
    assert sum(answers) <= amount + len(processes) * amount * rate_counts.BURST_SHARE
    assert shared_count(processes[0], limit, identity) == sum(answers)


def test_counts_waiting_when_redis_fails_are_sent_once_it_answers(limiters):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "100000/minute"
    assert admitted(limiter, limit, identity, 30) == [True] * 30
    original = limiter.counts._send

    def unreachable(commands):
        raise redis.ConnectionError("Redis is away")
    limiter.counts._send = unreachable
    with pytest.raises(redis.ConnectionError):
        limiter.counts.sync()
    limiter.counts._send = original
    limiter.counts.sync()
    assert shared_count(limiter, limit, identity) == 30


def test_a_count_not_refreshed_within_its_bound_asks_redis_again(limiters, monkeypatch):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "100000/minute"
    assert admitted(limiter, limit, identity, 2) == [True] * 2
    monkeypatch.setattr(rate_counts, "KNOWN_SECONDS", 0.05)
    time.sleep(0.3)               # past the one sync of what the two left waiting

    def unreachable(commands):
        raise redis.ConnectionError("Redis is away")
    limiter.counts._send = unreachable
    with pytest.raises(redis.ConnectionError):
        limiter.admit([(limit, identity)])


def test_a_redis_that_forgot_the_script_is_given_it_again(limiters):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "100000/minute"
    limiter._storage.get_connection().script_flush()
    assert admitted(limiter, limit, identity, 3) == [True] * 3
    limiter.counts.sync()
    assert shared_count(limiter, limit, identity) == 3


def test_a_refusal_tells_when_to_retry_from_the_same_window(limiters):
    limiter, identity, limit = limiters(), ("ip", uuid.uuid4().hex), "5/minute"
    assert admitted(limiter, limit, identity, 5) == [True] * 5
    with pytest.raises(ApiError) as refused:
        limiter.admit([(limit, identity)])
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
