"""Public market data kept per process (``api.market_cache``): never older than
MARKET_DATA_STALENESS_SECONDS against a real ``web`` process, dropped when the feed
announces its market's batch, concurrent askers share one answer, refusals are kept
too."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
import requests

from api.errors import ApiError
from api.market_cache import (
    EVERY_MARKET, MARKET_DATA_STALENESS_SECONDS, EncodedJson, MarketDataCache,
)
from events import publishing
from tests.api.conftest import start_web
from tests.trading import Clock, create_market, funded_user, place, runner
from workers.matching.runner import MarketRunner

# A request's own time on this shared machine, beyond the bound itself.
REQUEST_SLACK_SECONDS = 0.3
POLL_SECONDS = 0.02


def _answers_after_a_change(url: str, change, before, after) -> tuple[float, float]:
    """Read ``url`` (its JSON through ``before``/``after``' shape) after ``change()``
    until the new answer is served; every answer must be exactly the old one or the new
    one, and once new, new. Returns (seconds from the change's commit to the last old
    answer received, to the first new answer asked for)."""
    assert before[0](requests.get(url, timeout=10).json()) == before[1]
    change()
    committed = time.monotonic()
    last_old, first_new = 0.0, None
    while first_new is None or time.monotonic() - committed < 2 * MARKET_DATA_STALENESS_SECONDS:
        asked = time.monotonic()
        answer = before[0](requests.get(url, timeout=10).json())
        if answer == before[1]:
            assert first_new is None, "an old answer after a new one"
            last_old = time.monotonic() - committed
        else:
            assert answer == after
            first_new = asked - committed if first_new is None else first_new
        assert time.monotonic() - committed < 10, "never the new answer"
        time.sleep(POLL_SECONDS)
    return last_old, first_new


@pytest.fixture
def trading(engine, admin_engine, settings):
    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    clock = Clock(datetime.now(timezone.utc))
    run = runner(engine, settings, market, clock)
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    place(engine, seller, market, clock.now, side="sell", type="limit", quantity="1",
          price="100.00")
    place(engine, buyer, market, clock.now, side="buy", type="limit", quantity="0.4",
          price="100.00")
    run.run_pending()

    def trade_at_101() -> None:
        place(engine, seller, market, clock.now, side="sell", type="limit", quantity="0.5",
              price="99.00")
        place(engine, buyer, market, clock.now, side="buy", type="market", quantity="0.2")
        run.run_pending()
    return market, trade_at_101


def test_the_book_is_never_older_than_the_bound(api_url, trading):
    market, change = trading
    url = f"{api_url}/v1/markets/{market}/book?depth=5"
    old = {"asks": [["100.00", "0.60000000"]], "bids": []}
    new = {"asks": [["99.00", "0.30000000"], ["100.00", "0.60000000"]], "bids": []}
    last_old, first_new = _answers_after_a_change(
        url, change, (lambda b: {"asks": b["asks"], "bids": b["bids"]}, old), new)
    assert last_old <= MARKET_DATA_STALENESS_SECONDS + REQUEST_SLACK_SECONDS
    assert first_new <= MARKET_DATA_STALENESS_SECONDS + REQUEST_SLACK_SECONDS


def test_the_ticker_and_binance_depth_are_never_older_than_the_bound(api_url, trading):
    market, change = trading
    ticker = f"{api_url}/v1/markets/{market}/ticker"
    depth = f"{api_url}/api/v3/depth?symbol={market.replace('-', '')}&limit=5"
    requests.get(depth, timeout=10)              # both kept before the change
    last_old, first_new = _answers_after_a_change(
        ticker, change, (lambda t: (t["last"], t["volume"], t["trades"]),
                         ("100.00", "0.40000000", 1)), ("99.00", "0.60000000", 2))
    assert last_old <= MARKET_DATA_STALENESS_SECONDS + REQUEST_SLACK_SECONDS
    assert first_new <= MARKET_DATA_STALENESS_SECONDS + REQUEST_SLACK_SECONDS
    assert requests.get(depth, timeout=10).json()["asks"] == [
        ["99.00", "0.30000000"], ["100.00", "0.60000000"]]


def test_concurrent_askers_of_one_question_share_one_answer(monkeypatch):
    cache = MarketDataCache(seconds=5)
    monkeypatch.setattr("api.market_cache.bottle.response", type("R", (), {})())
    computed, release = [], threading.Event()

    def compute() -> EncodedJson:
        computed.append(1)
        release.wait(5)
        return EncodedJson(b'{"n":1}')

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.answer("q", compute)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert (len(computed), answers) == (1, [b'{"n":1}'] * 8)
    assert cache.answer("q", compute) == b'{"n":1}' and len(computed) == 1


def test_a_refusal_is_kept_and_raised_afresh_each_time():
    cache = MarketDataCache(seconds=5, refusals=(ApiError,))
    asked = []

    def unknown() -> EncodedJson:
        asked.append(1)
        raise ApiError(404, "unknown_market", "no market 'X-Y'", "market")

    refusals = []
    for _ in range(3):
        with pytest.raises(ApiError) as refused:
            cache.answer("x", unknown)
        refusals.append(refused.value)
    assert len(asked) == 1 and len({id(r) for r in refusals}) == 3
    assert [(r.status, r.code, r.message, r.field) for r in refusals] == [
        (404, "unknown_market", "no market 'X-Y'", "market")] * 3


def test_an_answer_is_asked_again_once_the_bound_has_passed(monkeypatch):
    cache = MarketDataCache(seconds=0.1)
    monkeypatch.setattr("api.market_cache.bottle.response", type("R", (), {})())
    numbers = iter(range(10))
    first = cache.answer("q", lambda: EncodedJson(b"%d" % next(numbers)))
    again = cache.answer("q", lambda: EncodedJson(b"%d" % next(numbers)))
    time.sleep(0.15)
    later = cache.answer("q", lambda: EncodedJson(b"%d" % next(numbers)))
    assert (first, again, later, cache.computed) == (b"0", b"0", b"1", 2)


def test_a_markets_change_drops_its_answers_and_those_about_every_market(monkeypatch):
    cache = MarketDataCache(seconds=60)
    monkeypatch.setattr("api.market_cache.bottle.response", type("R", (), {})())
    numbers = iter(range(100))

    def ask(key: str, market: str | None) -> bytes:
        return cache.answer(key, lambda: EncodedJson(b"%d" % next(numbers)), market)

    kept = [ask("a-book", "A-X"), ask("b-book", "B-X"), ask("tickers", EVERY_MARKET)]
    assert [ask("a-book", "A-X"), ask("b-book", "B-X"), ask("tickers", EVERY_MARKET)] == kept
    cache.forget("A-X")
    assert [ask("a-book", "A-X"), ask("b-book", "B-X"), ask("tickers", EVERY_MARKET)] == \
        [b"3", kept[1], b"4"]


def test_an_answer_made_while_its_market_changed_is_given_but_not_kept(monkeypatch):
    cache = MarketDataCache(seconds=60)
    monkeypatch.setattr("api.market_cache.bottle.response", type("R", (), {})())

    def changed_meanwhile() -> EncodedJson:
        cache.forget("A-X")          # the batch announced while the queries ran
        return EncodedJson(b"old")
    assert cache.answer("a-book", changed_meanwhile, "A-X") == b"old"
    assert cache.answer("a-book", lambda: EncodedJson(b"new"), "A-X") == b"new"
    assert cache.answer("a-book", lambda: EncodedJson(b"newer"), "A-X") == b"new"


@pytest.fixture
def long_kept_url(tmp_path):
    """A web process that keeps public answers for a minute unless their market changes."""
    web, base_url = start_web(tmp_path, MARKET_DATA_STALENESS_MS="60000",
                              RATE_LIMIT_PER_IP="100000/minute")
    yield base_url
    assert web.stop() == 0


def test_a_batch_announced_by_the_feed_is_served_at_once_on_both_faces(
        long_kept_url, engine, admin_engine, settings):
    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    seller = funded_user(engine, market, base="5")
    clock = Clock(datetime.now(timezone.utc))
    run = MarketRunner(engine, settings.database_url, market, clock=clock,
                       publish=publishing.publish_batch)
    book = f"{long_kept_url}/v1/markets/{market}/book?depth=5"
    depth = f"{long_kept_url}/api/v3/depth?symbol={market.replace('-', '')}&limit=5"
    tickers = f"{long_kept_url}/v1/tickers"
    assert requests.get(book, timeout=10).json()["asks"] == []
    assert requests.get(depth, timeout=10).json()["asks"] == []
    assert market not in {t["market"] for t in requests.get(tickers, timeout=10).json()["items"]
                          if t["last"] is not None}
    place(engine, seller, market, clock.now, side="sell", type="limit", quantity="1",
          price="100.00")
    buyer = funded_user(engine, market, quote="1000")
    place(engine, buyer, market, clock.now, side="buy", type="limit", quantity="0.4",
          price="100.00")
    run.run_pending()                # committed, then announced on the feed
    deadline = time.monotonic() + 10  # far inside the minute the answers would be kept
    while requests.get(book, timeout=10).json()["asks"] != [["100.00", "0.60000000"]]:
        assert time.monotonic() < deadline, "the kept book outlived its market's change"
        time.sleep(POLL_SECONDS)
    assert requests.get(depth, timeout=10).json()["asks"] == [["100.00", "0.60000000"]]
    last = {t["market"]: t["last"] for t in requests.get(tickers, timeout=10).json()["items"]}
    assert last[market] == "100.00"
