"""The whole trading stack (web, matcher, scheduler) for the Binance-compatible face, and
traders with keys and clients configured as shared/BINANCE.md says."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests

from api.binance.symbols import REFRESH_SECONDS

from tests.api.conftest import api_key, signed_up
from tests.api.client import Client
from tests.processes import Process, free_port, wait_for_http
from tests.trading import create_market

CCXT_OPTIONS = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False, "fetchMargins": False,
                "fetchOpenOrders": {"warnWithoutSymbol": False}}


@pytest.fixture(scope="module")
def stack(settings, tmp_path_factory):
    """web (on a free port), a matcher and the scheduler: orders are matched as they come."""
    logs = tmp_path_factory.mktemp("binance-stack")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = [Process("web", logs, PORT=str(port), RATE_LIMIT_PER_IP="100000/minute",
                         RATE_LIMIT_PER_USER="100000/minute"),
                 Process("matcher", logs), Process("scheduler", logs, DEMO_MODE="false")]
    try:
        wait_for_http(url + "/healthz", processes[0])
    except AssertionError:   # no teardown follows a failed set-up: the others stop here
        for process in processes:
            process.kill()
        raise
    yield url
    for process in processes:
        assert process.stop() == 0, process.output()[-3000:]


@pytest.fixture
def market(admin_engine, stack):
    """A market with Binance-like steps: tick 0.01, lot 0.001, fees 10 and 20 bps, once the
    face lists it (it reads the markets every api.binance.symbols.REFRESH_SECONDS)."""
    symbol = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    deadline = time.monotonic() + 10 * REFRESH_SECONDS
    while requests.get(f"{stack}/api/v3/exchangeInfo?symbol={symbol.replace('-', '')}",
                       timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the face never listed the new market"
        time.sleep(0.1)
    return symbol


@dataclass
class Trader:
    session: Client
    key: str
    secret: str

    def fund(self, currency: str, amount: str) -> None:
        response = self.session.post("/v1/faucet", {"currency": currency, "amount": amount})
        assert response.status_code == 201, response.text

    def balances(self) -> dict[str, tuple[str, str]]:
        return {b["currency"]: (b["available"], b["held"])
                for b in self.session.get("/v1/balances").json()["items"]}


def new_trader(url: str, scopes: tuple[str, ...] = ("read", "trade")) -> Trader:
    session = signed_up(url)
    key = api_key(session, list(scopes))
    return Trader(session, key.key_id, key.secret)


def ccxt_config(url: str, trader: Trader | None) -> dict:
    import ccxt

    stock = ccxt.binance().urls["api"]
    config = {"urls": {"api": {name: url + "/" + value.split("/", 3)[3]
                               for name, value in stock.items() if isinstance(value, str)}},
              "options": dict(CCXT_OPTIONS),
              "has": {"margin": False, "swap": False, "future": False, "option": False}}
    if trader is not None:
        config.update(apiKey=trader.key, secret=trader.secret)
    return config


def ccxt_client(url: str, trader: Trader | None = None):
    import ccxt

    return ccxt.binance(ccxt_config(url, trader))
