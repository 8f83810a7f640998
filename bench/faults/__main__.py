"""``python -m bench.faults --seconds N --seed S``: see ``bench.faults``. Prints, last, the
faults injected by kind, the operations acknowledged and the anomalies found by kind;
exits 1 on any anomaly, with the seed to replay it."""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from decimal import Decimal

from sqlalchemy import text

os.environ.setdefault("LOG_FORMAT", "json")

import config  # noqa: E402
from bench.faults.checker import Anomalies, check  # noqa: E402
from bench.faults.clients import MARKETS, Trader  # noqa: E402
from bench.faults.history import History  # noqa: E402
from bench.faults.nemesis import Nemesis  # noqa: E402
from bench.faults.anvil import Anvil  # noqa: E402
from bench.faults.chains import Chain, ChainNemesis  # noqa: E402
from bench.faults.regtest import Regtest  # noqa: E402
from currencies.base import CurrencySettings  # noqa: E402
from currencies.simulated import SimulatedChain  # noqa: E402
from tests.exchange import Exchange, fresh_var_dir  # noqa: E402

SETTLE_SECONDS_MAX = 90     # after the faults: every request processed, every send done
PROGRESS_SECONDS_MAX = 30   # then each market must match a new pair of orders within this
DEPOSIT = Decimal("0.5")
STACK = {"CONCURRENCY": "web=2,matcher=2,scheduler=2",
         "RATE_LIMIT_PER_IP": "1000000/minute", "RATE_LIMIT_PER_USER": "1000000/minute",
         "DEMO_MAKER_MARKETS": "ETH-BTC"}   # the maker trades too, in a market of its own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--traders", type=int, default=4)
    parser.add_argument("--direct", action="store_true",
                        help="processes reach PostgreSQL and Redis directly, with no link "
                             "to cut or stall")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 32)
    print(f"bench.faults: seed {seed}, {options.seconds:g} s, {options.traders} traders",
          flush=True)
    var_dir = fresh_var_dir(config.load(), f"faults-{seed}")
    chains: tuple[Chain, ...] = ()
    try:
        chains = (Regtest(var_dir / "bitcoind"), Anvil(var_dir / "anvil"))
        exchange = Exchange(var_dir, linked=not options.direct, **STACK,
                            **{k: v for chain in chains for k, v in chain.env().items()})
        for chain in chains:
            chain.register(exchange.engine, exchange.settings)
        print(f"exchange up (log: {exchange.log_path})", flush=True)
        try:
            found, nemesis, history = campaign(exchange, chains, seed, options)
            with exchange.engine.connect() as conn:
                paused = [tuple(row) for row in conn.execute(text(
                    "SELECT code, withdrawals_paused_reason FROM currencies "
                    "WHERE withdrawals_paused ORDER BY code"))]
                withdrawn = [tuple(row) for row in conn.execute(text(
                    "SELECT currency, status, count(*) FROM withdrawals "
                    "GROUP BY currency, status ORDER BY currency, status"))]
        finally:
            stopped = exchange.stop()
    finally:
        for chain in chains:
            chain.stop()
    if stopped != 0:
        found.add("unclean_stop", f"bin/run-exchange exited {stopped}")
    report(seed, nemesis, history, found, chains, paused, withdrawn)
    return 1 if found.counts else 0


def campaign(exchange: Exchange, chains: tuple[Chain, ...], seed: int,
             options: argparse.Namespace) -> tuple[Anomalies, Nemesis, History]:
    history, stopping, quiet = History(), threading.Event(), threading.Event()
    traders = [Trader(n, exchange.web_urls(), exchange.engine, history, seed, stopping,
                      chains) for n in range(options.traders)]
    addresses = []
    chain = SimulatedChain(CurrencySettings("BTC", 8, 0, None), exchange.engine)
    for trader in traders:
        trader.set_up()
        address = trader._must("POST", "/v1/deposit-addresses", {"currency": "BTC"},
                               (200, 201))["address"]
        chain.pay_to(address, DEPOSIT)   # credited by the scheduler, through the faults
        addresses.append(address)
    nemesis = Nemesis(exchange, seed, quiet)
    chain_nemeses = [ChainNemesis(chain, seed, quiet, nemesis.injected) for chain in chains]
    for thread in (*traders, nemesis, *chain_nemeses):
        thread.start()
    time.sleep(options.seconds)
    quiet.set()
    for thread in (nemesis, *chain_nemeses):
        thread.join()
    stopping.set()
    for trader in traders:
        trader.join()
    print(f"faults stopped after {options.seconds:g} s; settling", flush=True)
    found = Anomalies()
    for failed in [t for t in (*traders, nemesis, *chain_nemeses) if t.failure]:
        found.add("harness_error", f"{failed.name}: {failed.failure!r}")
    exchange.wait_until_ready()
    if not settle(exchange, chains):
        found.add("not_settled", "requests or withdrawals still pending")
    newcomers = [Trader(n, exchange.web_urls(), exchange.engine, history, seed, stopping)
                 for n in range(options.traders, options.traders + 2)]
    for trader in newcomers:
        trader.set_up()
    progress(newcomers, found)
    traders += newcomers
    found_after = check(exchange.engine, history, [t.user_id for t in traders], addresses,
                        chains)
    for kind, count in found_after.counts.items():
        found.counts[kind] += count
        found.examples[kind] += found_after.examples[kind]
    return found, nemesis, history


def settle(exchange: Exchange, chains: tuple[Chain, ...]) -> bool:
    """Until every request is processed, every send done and every payment deep enough
    credited (a block of each chain a second meanwhile)."""
    deadline = time.monotonic() + SETTLE_SECONDS_MAX
    while time.monotonic() < deadline:
        uncredited = 0
        with exchange.engine.connect() as conn:
            for chain in chains:
                chain.mine()
                deep = [txid for txid, n in chain.confirmations(
                    {txid for txid, _, _ in chain.paid}).items()
                    if n > chain.confirmations_needed]
                uncredited += len(deep) - conn.execute(text(
                    "SELECT count(DISTINCT txid) FROM deposits WHERE currency = :c "
                    "AND status = 'credited' AND txid = ANY(:t)"),
                    {"t": deep, "c": chain.code}).scalar_one()
            pending = conn.execute(text(
                "SELECT (SELECT count(*) FROM matcher_requests WHERE processed_at IS NULL)"
                " + (SELECT count(*) FROM withdrawals w JOIN currencies c ON c.code = w.currency"
                "     WHERE w.status = 'sending' OR (w.status = 'queued'"
                "           AND NOT c.withdrawals_paused))")).scalar_one()   # paused: for an operator
            deep_simulated = conn.execute(text(
                "SELECT bool_and(h.height - t.block_height + 1 > c.confirmations) "
                "FROM simulated_chain_transactions t JOIN currencies c ON c.code = t.currency "
                "JOIN simulated_chain_heights h ON h.currency = t.currency "
                "WHERE NOT t.outgoing AND t.block_height IS NOT NULL")).scalar()
        if pending == 0 and uncredited == 0 and deep_simulated is not False:
            return True
        time.sleep(1)
    return False


def progress(pair: list[Trader], found: Anomalies) -> None:
    """After the faults, every market matches a new pair of orders within the bound: two
    newcomers' (whose orders cannot meet their own), the buy above every ask of the run."""
    seller, buyer = pair
    for market, level in MARKETS.items():
        price = f"{level + Decimal('7.77'):.2f}"
        orders = []
        for trader, side in ((seller, "sell"), (buyer, "buy")):
            order = {"market": market, "side": side, "type": "limit", "price": price,
                     "quantity": "0.10", "time_in_force": "gtc" if side == "sell" else "ioc",
                     "client_order_id": f"progress-{trader.number}-{market}"}
            answer = trader._retried("place_native", "POST", "/v1/orders", order)
            if answer is None:
                found.add("no_progress", f"{market} {side}: not accepted")
                return
            orders.append((trader, answer["id"]))
        deadline = time.monotonic() + PROGRESS_SECONDS_MAX
        trader, order_id = orders[1]
        while True:
            status, answer = trader._send("GET", f"/v1/orders/{order_id}", None)
            if status == 200 and answer["status"] in ("filled", "partially_filled",
                                                      "cancelled", "expired"):
                if Decimal(answer["filled_quantity"]) == 0:
                    found.add("no_progress", f"{market}: the crossing buy did not fill")
                break
            if time.monotonic() > deadline:
                found.add("no_progress", f"{market}: not matched in {PROGRESS_SECONDS_MAX} s")
                break
            time.sleep(0.2)


def _code(answer: object) -> str:
    """An error answer's code: native ``error.code`` or Binance's ``code``."""
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            return str(error.get("code"))
        if "msg" in answer:
            return str(answer.get("code"))
    return ""


def report(seed: int, nemesis: Nemesis, history: History, found: Anomalies,
           chains: tuple[Chain, ...], paused: list[tuple[str, str]],
           withdrawn: list[tuple[str, str, int]]) -> None:
    acknowledged = history.acknowledged()
    sent = Counter(r.operation for r in history.records)
    print("\nfaults injected")
    for kind, count in sorted(nemesis.injected.items()):
        print(f"  {kind:<22}{count:>8}")
    print("operations (attempts sent / acknowledged)")
    for kind in sorted(sent):
        print(f"  {kind:<22}{sent[kind]:>8}{acknowledged[kind]:>8}")
    for chain in chains:
        print(f"  {chain.code + ' deposits paid':<22}{len(chain.paid):>8}")
    print("withdrawals (currency status: count)")
    for currency, status, count in withdrawn:
        print(f"  {currency + ' ' + status:<22}{count:>8}")
    print("answers (status: count; 0: none received)")
    for kind in sorted(sent):
        statuses = Counter((r.status or 0, _code(r.answer)) for r in history.of(kind))
        print(f"  {kind:<22}" + ", ".join(f"{s}{f' {c}' if c else ''}: {n}"
                                          for (s, c), n in sorted(statuses.items())))
    print("anomalies")
    if not found.counts:
        print("  none")
    for kind, count in sorted(found.counts.items()):
        print(f"  {kind:<22}{count:>8}   e.g. {found.examples[kind][0]}")
    for code, reason in paused:
        print(f"notice: {code} withdrawals paused by the exchange: {reason}")
    verdict = "ANOMALIES FOUND" if found.counts else "no anomaly"
    print(f"\n{verdict}; seed {seed} (replay: python -m bench.faults --seed {seed})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
