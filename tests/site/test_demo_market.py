"""The demo in a real browser: with the ``maker`` process running, a market's book and
trades move on their own within seconds, every number at the market's tick and lot."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from api.binance.symbols import REFRESH_SECONDS
from tests.processes import Process
from tests.site.conftest import screenshot
from tests.trading import create_market

PRICE = re.compile(r"^\d+\.\d{2}$")          # tick 0.01, though the quote's scale is 8
QUANTITY = re.compile(r"^\d+\.\d{3}$")       # lot 0.001
SECONDS_TO_MOVE_MAX = 30   # a bound on liveness, not a timing: the fresh-clone CI run needed more than 10


@pytest.fixture
def demo_market(admin_engine, exchange, tmp_path):
    """A market the face lists, and the maker quoting it."""
    api_url = exchange[1]
    market = create_market(admin_engine, quote_scale=8)
    deadline = time.monotonic() + 10 * REFRESH_SECONDS
    while requests.get(f"{api_url}/api/v3/exchangeInfo?symbol={market.replace('-', '')}",
                       timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the face never listed the new market"
        time.sleep(0.1)
    maker = Process("maker", tmp_path, API_PUBLIC_URL=api_url, DEMO_MODE="true",
                    DEMO_MAKER_STATE=str(tmp_path / "maker.json"), DEMO_MAKER_MARKETS=market)
    yield market, time.monotonic()
    assert maker.stop() == 0, maker.output()[-3000:]


def _cells(page, selector: str, column: int) -> list[str]:
    return page.locator(f"{selector} tbody tr td:nth-child({column})").all_inner_texts()


def test_the_demo_market_moves_on_its_own_at_tick_and_lot_precision(new_page, demo_market):
    market, started = demo_market
    page = new_page()
    page.goto(f"/#/trade/{market}")
    expect(page.locator("#book tbody tr.ask")).to_have_count(5, timeout=SECONDS_TO_MOVE_MAX * 1000)
    expect(page.locator("#book tbody tr.bid")).to_have_count(5)
    expect(page.locator("#trades tbody tr").first).not_to_contain_text("No trades yet.",
                                                                       timeout=SECONDS_TO_MOVE_MAX * 1000)
    moved_after = time.monotonic() - started
    first_book, first_trades = page.locator("#book").inner_text(), len(_cells(page, "#trades", 1))
    page.wait_for_function(
        "([book, trades]) => document.querySelector('#book').innerText !== book"
        " && document.querySelectorAll('#trades tbody tr').length > trades",
        arg=[first_book, first_trades], timeout=SECONDS_TO_MOVE_MAX * 1000)
    screenshot(page, "demo-market")
    print(f"book and trades shown {moved_after:.1f} s after the maker started")
    for selector in ("#book", "#trades"):
        assert all(PRICE.match(text) for text in _cells(page, selector, 1)), selector
        assert all(QUANTITY.match(text) for text in _cells(page, selector, 2)), selector
    assert all(QUANTITY.match(text) for text in _cells(page, "#book", 3))      # depth
    assert PRICE.match(page.locator(".chart").get_attribute("data-last-close"))

    page.goto("/#/markets")
    row = page.locator(f'tr[data-market="{market}"] td')
    expect(row.nth(1)).to_have_text(PRICE)                                   # last
    expect(row.nth(3)).to_have_text(PRICE)                                   # 24 h high
    expect(row.nth(5)).to_have_text(QUANTITY)                                # 24 h volume
