"""freqtrade (pinned, in ``.venv-freqtrade``) against our exchange, end to end; by hand:

    make freqtrade                                  # starts a demo exchange of its own
    make freqtrade FREQTRADE_ARGS="--url http://127.0.0.1:8000"   # or uses a running one

It starts ``bin/run-exchange`` on ports 18000/18080 with its data in
``var/freqtrade-exchange`` (apart from ``make run``'s and the tests'), or uses the exchange
at ``--url`` (it must be in demo mode: the faucet funds the users). Through the native API
it makes three users: the bot, and a maker and a taker who trade once on BTC-USDT (so that
there are candles) and leave a bid and an ask. Then it runs, with
``examples/freqtrade/config.json`` and a second config with the bot's key and the URLs:

1. ``freqtrade list-markets``;
2. ``freqtrade trade`` in live mode with ``TrivialStrategy`` until its one trade is closed
   (a market buy, a candle held, a market sell), at most ``TRADE_SECONDS_MAX``;
3. ``freqtrade download-data`` of the 1m candles (from our REST klines only:
   ``only_from_ccxt``), compared with ``GET /api/v3/klines``;

and checks through the native API that the bot's fills are the trade freqtrade recorded
and that its balances are exactly its funds less what the fills cost. It stops what it
started; every step has a time bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from money import fee, round_down, round_up
from tools.pinned import PROJECT_DIR, var_dir

FREQTRADE = PROJECT_DIR / ".venv-freqtrade" / "bin" / "freqtrade"
EXAMPLE_DIR = PROJECT_DIR / "examples" / "freqtrade"
PAIR, MARKET, SYMBOL, BASE, QUOTE = "BTC/USDT", "BTC-USDT", "BTCUSDT", "BTC", "USDT"
QUOTE_SCALE, TAKER_FEE_BPS = 6, 20           # admin/demo.py: USDT's scale, BTC-USDT's fee
BOT_FUNDS = Decimal("1000")
SEED = [("maker", "sell", "0.01", "50000.00"), ("taker", "buy", "0.01", "50000.00"),
        ("maker", "buy", "0.1", "49990.00"), ("maker", "sell", "0.1", "50010.00")]
PASSWORD = "freqtrade-check-password"
STARTUP_SECONDS_MAX = 240     # a first run makes the database, migrates, loads the demo
COMMAND_SECONDS_MAX = 180
TRADE_SECONDS_MAX = 360       # a closed candle (60 s at most), one candle held, the exit
STOP_SECONDS_MAX = 60
HTTP_SECONDS = 30
# freqtrade's start-up lines, left out of what is printed (the log files keep them)
NOISE = ("Applying additional ccxt config", "freqtrade.configuration", "freqtrade.loggers",
         "numexpr.utils", "check_exchange", "exchange_resolver", "- freqtrade - INFO")


def main() -> None:
    options = _arguments()
    work = var_dir() / "freqtrade-check"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    exchange = None if options.url else _start_exchange(options, work)
    url = options.url or f"http://127.0.0.1:{options.port}"
    try:
        _wait_for(url + "/healthz", STARTUP_SECONDS_MAX, exchange)
        _check(url, work)
    finally:
        if exchange is not None:
            _stop(exchange, signal.SIGTERM)
    print("freqtrade check passed")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running exchange (demo mode) instead of our own")
    parser.add_argument("--port", type=int, default=18000)
    parser.add_argument("--site-port", type=int, default=18080)
    return parser.parse_args()


def _check(url: str, work: Path) -> None:
    users = {name: _user(url, name) for name in ("bot", "maker", "taker")}
    _fund(users["bot"], QUOTE, str(BOT_FUNDS))
    _fund(users["maker"], BASE, "1")
    _fund(users["maker"], QUOTE, "10000")
    _fund(users["taker"], QUOTE, "1000")
    try:
        _seed(url, users)
        configs = _configs(url, users["bot"], work)
        _freqtrade(["create-userdir", "--userdir", str(work / "user_data")])
        listed = _freqtrade(["list-markets", *configs, "--quote", QUOTE])
        assert PAIR in listed, listed
        trade = _trade(configs, work)
        _check_balances(users["bot"], trade)
        _freqtrade(["download-data", *configs, "--pairs", PAIR, "--timeframes", "1m",
                    "--days", "1", "--data-format-ohlcv", "json"])
        _check_candles(url, work / "user_data" / "data" / "binance" / "BTC_USDT-1m.json")
    finally:
        _session(users["maker"]).delete(f"{url}/v1/orders?market={MARKET}",
                                        timeout=HTTP_SECONDS)


# The exchange ---------------------------------------------------------------------------


def _start_exchange(options: argparse.Namespace, work: Path) -> subprocess.Popen:
    env = {**os.environ, "VAR_DIR": str(var_dir() / "freqtrade-exchange"),
           "PORT": str(options.port), "SITE_PORT": str(options.site_port)}
    env.pop("API_PUBLIC_URL", None)
    log = open(work / "exchange.log", "wb")
    print(f"$ bin/run-exchange  (PORT={options.port} SITE_PORT={options.site_port}, "
          f"VAR_DIR={env['VAR_DIR']}; output in {log.name})", flush=True)
    return subprocess.Popen(["bash", str(PROJECT_DIR / "bin" / "run-exchange")], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(url: str, seconds: float, process: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the exchange stopped (exit {process.returncode})")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def _stop(process: subprocess.Popen, how: int) -> None:
    """Stop a process we started; its whole group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(STOP_SECONDS_MAX)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _user(url: str, name: str) -> dict[str, Any]:
    email = f"freqtrade-{name}-{uuid.uuid4().hex[:12]}@demo.test"
    session = requests.Session()
    response = session.post(url + "/v1/users", json={"email": email, "password": PASSWORD},
                            timeout=HTTP_SECONDS)
    assert response.status_code == 201, response.text
    response = session.post(url + "/v1/sessions", json={"email": email, "password": PASSWORD},
                            timeout=HTTP_SECONDS)
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    session.headers["Authorization"] = f"Bearer {token}"
    key = session.post(url + "/v1/api-keys", json={"scopes": ["read", "trade"],
                                                   "label": "freqtrade"}, timeout=HTTP_SECONDS)
    assert key.status_code == 201, key.text
    return {"url": url, "email": email, "token": token, "key": key.json()["id"],
            "secret": key.json()["secret"]}


def _session(user: dict[str, Any]) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {user['token']}"
    return session


def _fund(user: dict[str, Any], currency: str, amount: str) -> None:
    response = _session(user).post(user["url"] + "/v1/faucet",
                                   json={"currency": currency, "amount": amount},
                                   timeout=HTTP_SECONDS)
    assert response.status_code == 201, response.text


def _seed(url: str, users: dict[str, dict[str, Any]]) -> None:
    """A trade at 50000 (the first candle), then a bid at 49990 and an ask at 50010."""
    for name, side, quantity, price in SEED:
        response = _session(users[name]).post(url + "/v1/orders", timeout=HTTP_SECONDS, json={
            "market": MARKET, "side": side, "type": "limit", "quantity": quantity,
            "price": price, "time_in_force": "gtc"})
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + HTTP_SECONDS
    while time.monotonic() < deadline:
        book = requests.get(f"{url}/api/v3/depth?symbol={SYMBOL}", timeout=HTTP_SECONDS).json()
        if book["bids"] and book["asks"]:
            print(f"book: best bid {book['bids'][0]}, best ask {book['asks'][0]}", flush=True)
            return
        time.sleep(0.5)
    raise SystemExit("the seed orders did not reach the book")


# freqtrade ------------------------------------------------------------------------------


def _configs(url: str, bot: dict[str, Any], work: Path) -> list[str]:
    """The example config, then ours: the bot's key, live mode, every URL to ``url``."""
    stock = json.loads(subprocess.run(
        [str(FREQTRADE.parent / "python"), "-c", "import ccxt, json; "
         "print(json.dumps(ccxt.binance().urls['api']))"],
        check=True, capture_output=True, text=True, timeout=COMMAND_SECONDS_MAX).stdout)
    ours = {"dry_run": False, "user_data_dir": str(work / "user_data"),
            "exchange": {"key": bot["key"], "secret": bot["secret"], "ccxt_config": {
                "urls": {"api": {name: url + "/" + value.split("/", 3)[3]
                                 for name, value in stock.items()}}}}}
    (work / "run.json").write_text(json.dumps(ours, indent=2))
    return ["-c", str(EXAMPLE_DIR / "config.json"), "-c", str(work / "run.json")]


def _freqtrade(arguments: list[str]) -> str:
    print("$ freqtrade " + " ".join(arguments), flush=True)
    done = subprocess.run([str(FREQTRADE), *arguments], capture_output=True, text=True,
                          timeout=COMMAND_SECONDS_MAX)
    output = done.stdout + done.stderr
    print("\n".join(line for line in output.splitlines() if line.strip()
                    and not any(noise in line for noise in NOISE)
                    and not line.startswith(("'", " '"))), flush=True)
    if done.returncode != 0:
        raise SystemExit(f"freqtrade {arguments[0]} failed (exit {done.returncode})")
    return output


def _trade(configs: list[str], work: Path) -> sqlite3.Row:
    """``freqtrade trade`` until its trade is closed: the trade as freqtrade recorded it."""
    database = work / "trades.sqlite"
    arguments = ["trade", *configs, "--strategy", "TrivialStrategy",
                 "--strategy-path", str(EXAMPLE_DIR), "--db-url", f"sqlite:///{database}",
                 "--logfile", str(work / "freqtrade-trade.log")]
    print("$ freqtrade " + " ".join(arguments), flush=True)
    process = subprocess.Popen([str(FREQTRADE), *arguments], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + TRADE_SECONDS_MAX
    closed = None
    try:
        while closed is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(2)
            closed = _closed_trade(database)
    finally:
        _stop(process, signal.SIGINT)
    log = (work / "freqtrade-trade.log").read_text()
    print("\n".join(line for line in log.splitlines() if any(
        word in line for word in ("Long signal", "was created", "Fee for", "fulfilled",
                                  "Exit for", "Marking", "ERROR", "WARNING - Could"))))
    if closed is None:
        raise SystemExit(f"no closed trade within {TRADE_SECONDS_MAX} s; see the log above")
    print(f"freqtrade's trade: amount {closed['amount']}, open {closed['open_rate']}, "
          f"close {closed['close_rate']}, exit reason {closed['exit_reason']}", flush=True)
    return closed


def _closed_trade(database: Path) -> sqlite3.Row | None:
    if not database.exists():
        return None
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute("SELECT * FROM trades WHERE is_open = 0").fetchone()
        except sqlite3.OperationalError:      # freqtrade is still making its tables
            return None


# The checks -----------------------------------------------------------------------------


def _check_balances(bot: dict[str, Any], trade: sqlite3.Row) -> None:
    """The bot's fills are freqtrade's trade, and its balances are its funds less them."""
    session = _session(bot)
    fills = session.get(f"{bot['url']}/v1/fills?market={MARKET}",
                        timeout=HTTP_SECONDS).json()["items"]
    by_side = {side: [f for f in fills if f["side"] == side] for side in ("buy", "sell")}
    assert [len(by_side["buy"]), len(by_side["sell"])] == [1, 1], fills
    (bought,), (sold,) = by_side["buy"], by_side["sell"]
    quantity = Decimal(bought["quantity"])
    assert Decimal(sold["quantity"]) == quantity == Decimal(str(trade["amount"])), fills
    assert Decimal(bought["price"]) == Decimal(str(trade["open_rate"])), (bought, trade)
    assert Decimal(sold["price"]) == Decimal(str(trade["close_rate"])), (sold, trade)
    paid = round_up(Decimal(bought["price"]) * quantity, QUOTE_SCALE)
    received = round_down(Decimal(sold["price"]) * quantity, QUOTE_SCALE)
    for fill, notional in ((bought, paid), (sold, received)):
        assert fill["liquidity"] == "taker" and fill["fee_currency"] == QUOTE, fill
        assert Decimal(fill["fee"]) == fee(Decimal(fill["price"]) * quantity, TAKER_FEE_BPS,
                                           QUOTE_SCALE), fill
    expected = BOT_FUNDS - paid - Decimal(bought["fee"]) + received - Decimal(sold["fee"])
    balances = {b["currency"]: b for b in session.get(
        f"{bot['url']}/v1/balances", timeout=HTTP_SECONDS).json()["items"]}
    quote, base = balances[QUOTE], balances.get(BASE)
    assert Decimal(quote["available"]) == expected and Decimal(quote["held"]) == 0, quote
    assert base is None or Decimal(base["available"]) == Decimal(base["held"]) == 0, base
    print(f"native API: bought {quantity} {BASE} at {bought['price']} (paid {paid} + fee "
          f"{bought['fee']}), sold at {sold['price']} (received {received} - fee "
          f"{sold['fee']}); {QUOTE} {BOT_FUNDS} -> {quote['available']} = expected "
          f"{expected}, held {quote['held']}; {BASE} "
          f"{base['available'] if base else '0'}", flush=True)


def _check_candles(url: str, path: Path) -> None:
    """What download-data stored is our klines, candle for candle."""
    stored = json.loads(path.read_text())
    assert stored, f"{path} holds no candle"
    klines = requests.get(f"{url}/api/v3/klines", timeout=HTTP_SECONDS, params={
        "symbol": SYMBOL, "interval": "1m", "startTime": stored[0][0], "limit": 1000}).json()
    ours = {k[0]: [Decimal(v) for v in k[1:6]] for k in klines}
    for candle in stored:
        assert [Decimal(str(v)) for v in candle[1:6]] == ours[candle[0]], (candle, ours)
    print(f"download-data: {len(stored)} candles of 1m in {path.name}, each equal to "
          f"GET /api/v3/klines; volume {sum(Decimal(str(c[5])) for c in stored)} {BASE}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
