"""Opening a session with the exchange: its limits, both accounts and their keys, the
markets to quote, a clean slate (no quote of a previous run left), funds, and where each
market's reference price starts (its last trade, else a demo price)."""

from __future__ import annotations

import logging
import zlib
from decimal import Decimal
from typing import Any

import ccxt

from demo_maker.accounts import ROLES, Accounts
from demo_maker.funding import top_up
from demo_maker.ladder import LEVELS, Rules, grid_step, multiple
from demo_maker.maker import Maker, Market
from demo_maker.pacing import Pacer, budget_per_second
from demo_maker.venue import PacedBinance, client, rules
from demo_maker.walk import RandomWalk

STARTING_PRICES = {"BTC/USDT": Decimal("60000"), "ETH/USDT": Decimal("3000"),
                   "ETH/BTC": Decimal("0.05")}
STARTING_PRICE_TICKS = 10_000     # where any other market starts, if it never traded
HEADROOM = 4                      # the ladders hold at most a quarter of each balance
ORDERS_OPEN_MAX_FILTER = "MAX_NUM_ORDERS"

log = logging.getLogger("demo_maker")


def open_session(api_url: str, accounts: Accounts, pacer: Pacer, seed: int,
                 names: tuple[str, ...]) -> Maker:
    public = client(api_url, pacer)
    info = public.publicGetExchangeInfo()
    pacer.per_second = budget_per_second(info["rateLimits"])
    log.info("budget: %.1f requests a second (half the tightest announced limit)",
             pacer.per_second)
    exchanges = {role: _keyed(api_url, pacer, accounts, role) for role in ROLES}
    chosen = _chosen(exchanges["maker"], info, names)
    if not chosen:
        raise ccxt.BadSymbol(f"no market to quote among {names or 'those listed'}")
    for market in chosen:
        try:
            exchanges["maker"].cancel_all_orders(market.symbol)
        except ccxt.OrderNotFound:
            pass
    currencies = {c for market in chosen for c in (market.base, market.quote)}
    free = {role: top_up(accounts, role, exchange, currencies)
            for role, exchange in exchanges.items()}["maker"]
    last = _last_prices(public)
    markets = [_market(market, last.get(market.symbol), free, chosen, seed)
               for market in chosen]
    log.info("quoting %s", ", ".join(f"{m.rules.symbol} from {m.walk.price} by {m.step}"
                                     for m in markets))
    return Maker(exchanges["maker"], exchanges["taker"], markets)


def _keyed(api_url: str, pacer: Pacer, accounts: Accounts, role: str) -> PacedBinance:
    """A client with the role's key, once the exchange has shown that it knows the key."""
    account = accounts.ensure()[role]
    exchange = client(api_url, pacer, account.key, account.secret)
    try:
        exchange.fetch_balance()
    except ccxt.AuthenticationError:
        account = accounts.renew_key(role)
        exchange = client(api_url, pacer, account.key, account.secret)
    exchange.load_markets()
    return exchange


def _chosen(exchange: PacedBinance, info: dict[str, Any], names: tuple[str, ...]) -> list[Rules]:
    wanted = {name.replace("-", "") for name in names}
    listed = [market for market in exchange.markets.values()
              if market["active"] and (not wanted or market["id"] in wanted)]
    orders_max = min((f["maxNumOrders"] for s in info["symbols"] for f in s["filters"]
                      if f["filterType"] == ORDERS_OPEN_MAX_FILTER), default=200)
    return [rules(market) for market in listed[:orders_max // (2 * LEVELS)]]


def _last_prices(public: PacedBinance) -> dict[str, Decimal]:
    return {symbol: Decimal(ticker["info"]["lastPrice"])
            for symbol, ticker in public.fetch_tickers().items()
            if Decimal(ticker["info"].get("lastPrice") or 0) > 0}


def _market(rules: Rules, last: Decimal | None, free: dict[str, Decimal],
            chosen: list[Rules], seed: int) -> Market:
    start = last or STARTING_PRICES.get(rules.symbol) or rules.tick * STARTING_PRICE_TICKS
    start = max(rules.tick, multiple(start, rules.tick))

    def share(currency: str) -> Decimal:
        uses = sum(currency in (m.base, m.quote) for m in chosen)
        return free.get(currency, Decimal(0)) / uses

    budget = min(share(rules.base), share(rules.quote) / start) / (LEVELS * HEADROOM)
    # A walk of its own per market, reproducible from the seed and the market's name.
    walk = RandomWalk(start, rules.tick, seed + zlib.crc32(rules.symbol.encode()))
    return Market(rules, walk, grid_step(start, rules), budget, last_reference=start)
