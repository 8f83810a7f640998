"""Traders that sign up, are funded, and then place, cancel, read and withdraw at random
through both APIs, retrying what was not answered as a careful bot does: the same
``client_order_id`` (native), ``newClientOrderId`` (Binance) or ``Idempotency-Key``
(withdrawals), so that a retry can never make a second order or payment."""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import Engine, text

from bench.faults.chains import Chain
from bench.faults.history import History, Record
from currencies.base import CurrencySettings
from currencies.simulated import SimulatedChain

MARKETS = {"BTC-USDT": Decimal("100"), "ETH-USDT": Decimal("20")}   # our own price levels
FUNDS = {"BTC": "5", "ETH": "50", "USDT": "100000"}
ATTEMPTS_MAX = 8
TIMEOUT_SECONDS = 10
WITHDRAWAL_AMOUNT = "12"     # USDT: above the demo minimum (10), fee 1
PASSWORD = "correct horse battery staple"


class Trader(threading.Thread):
    def __init__(self, number: int, urls: list[str], engine: Engine, history: History,
                 seed: int, stopping: threading.Event, chains: tuple[Chain, ...] = ()) -> None:
        super().__init__(name=f"trader-{number}", daemon=True)
        self.number, self.urls, self.engine, self.history = number, urls, engine, history
        self.rng = random.Random(seed * 1000 + number)
        self.stopping = stopping
        self.http = requests.Session()
        self.token = ""
        self.key = self.secret = ""
        self.address = ""
        self.chains = chains
        self.deposit_addresses: dict[str, str] = {}    # ours, on each real chain
        self.outside_addresses: dict[str, str] = {}    # the trader's own, for withdrawals
        self.user_id = 0
        self.orders: list[str] = []      # ids of orders acknowledged, for cancels
        self._last_code: str | None = None   # the last native error's code
        self.failure: BaseException | None = None

    # Set-up ----------------------------------------------------------------------

    def set_up(self) -> None:
        email = f"faults-{self.number}-{uuid.uuid4().hex[:8]}@example.com"
        self._must("POST", "/v1/users", {"email": email, "password": PASSWORD}, (201,))
        self.token = self._must("POST", "/v1/sessions", {"email": email, "password": PASSWORD},
                                (201,))["token"]
        key = self._must("POST", "/v1/api-keys", {"scopes": ["read", "trade"], "label": "f"},
                         (201,))
        self.key, self.secret = key["id"], key["secret"]
        for currency, amount in FUNDS.items():
            self._must("POST", "/v1/faucet", {"currency": currency, "amount": amount}, (201,))
        chain = SimulatedChain(CurrencySettings("USDT", 6, 0, None), self.engine)
        self.address = chain.new_deposit_address("outside")
        added = self._must("POST", "/v1/withdrawal-addresses",
                           {"currency": "USDT", "address": self.address}, (201,))
        with self.engine.begin() as conn:   # time passes: the cooling-off period ends
            conn.execute(text("UPDATE withdrawal_addresses SET usable_from = now() "
                              "WHERE id = :i"), {"i": int(added["id"])})
            self.user_id = conn.execute(text("SELECT id FROM users WHERE email = :e"),
                                        {"e": email}).scalar_one()
        for real in self.chains:
            address = self._must("POST", "/v1/deposit-addresses", {"currency": real.code},
                                 (200, 201))["address"]
            self.deposit_addresses[real.code] = address
            real.pay_to(address, real.deposit)
            self.outside_addresses[real.code] = real.outside_address()
            added = self._must("POST", "/v1/withdrawal-addresses", {
                "currency": real.code, "address": self.outside_addresses[real.code]}, (201,))
            with self.engine.begin() as conn:
                conn.execute(text("UPDATE withdrawal_addresses SET usable_from = now() "
                                  "WHERE id = :i"), {"i": int(added["id"])})

    def _must(self, method: str, path: str, body: dict, wanted: tuple[int, ...]) -> Any:
        """Set-up calls, retried until answered (faults may already be under way)."""
        for _ in range(60):
            status, answer = self._send(method, path, body)
            if status in wanted:
                return answer
            time.sleep(0.5)
        raise RuntimeError(f"{method} {path} never succeeded: {status} {answer}")

    # The load --------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                roll = self.rng.random()
                if roll < 0.40:
                    self.place_native()
                elif roll < 0.60:
                    self.place_binance()
                elif roll < 0.75:
                    self.cancel()
                elif roll < 0.93:
                    self.read()
                elif roll < 0.96 and self.chains:
                    chain = self.rng.choice(self.chains)
                    chain.pay_to(self.deposit_addresses[chain.code], chain.deposit / 10)
                else:
                    self.withdraw()
        except BaseException as error:   # a bug of the client: reported, not hidden
            self.failure = error

    def place_native(self) -> None:
        market = self.rng.choice(list(MARKETS))
        level = MARKETS[market]
        side = self.rng.choice(["buy", "sell"])
        price = level + Decimal(self.rng.randint(-300, 300)) / 100
        order: dict[str, Any] = {"market": market, "side": side,
                                 "quantity": f"{Decimal(self.rng.randint(1, 20)) / 100:.2f}",
                                 "client_order_id": f"n{self.number}-{uuid.uuid4().hex[:16]}"}
        kind = self.rng.choices(["limit", "market", "stop_limit", "stop_market",
                                 "take_profit_limit", "take_profit_market"],
                                [10, 2, 1, 1, 1, 1])[0]
        order["type"] = kind
        if kind.endswith("limit"):
            order["price"] = f"{price:.2f}"
        if kind.startswith(("stop", "take")):
            offset = Decimal(self.rng.randint(10, 200)) / 100
            above = (side == "buy") == kind.startswith("stop")
            order["stop_price"] = f"{level + offset if above else level - offset:.2f}"
        if kind == "limit":
            tif = self.rng.choices(["gtc", "ioc", "gtd"], [6, 2, 2])[0]
            order["time_in_force"] = tif
            if tif == "gtd":
                expire = time.time() + self.rng.uniform(1, 20)
                order["expire_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expire)) + "Z"
        answer = self._retried("place_native", "POST", "/v1/orders", order)
        if answer is not None:
            self.orders.append(answer["id"])
        elif self._last_code == "too_many_open_orders":   # a bot at its cap clears the market
            self._retried("cancel_all", "DELETE", f"/v1/orders?market={market}", {},
                          done=(202,))

    def place_binance(self) -> None:
        market = self.rng.choice(list(MARKETS))
        price = MARKETS[market] + Decimal(self.rng.randint(-300, 300)) / 100
        limit = self.rng.random() < 0.8
        params = {"symbol": market.replace("-", ""), "side": self.rng.choice(["BUY", "SELL"]),
                  "type": "LIMIT" if limit else "MARKET",
                  "quantity": f"{Decimal(self.rng.randint(1, 20)) / 100:.2f}",
                  "newClientOrderId": f"b{self.number}-{uuid.uuid4().hex[:16]}",
                  "newOrderRespType": "ACK"}
        if limit:
            params |= {"timeInForce": "GTC", "price": f"{price:.2f}"}
        answer = self._retried("place_binance", "POST", "/api/v3/order", params, binance=True)
        if answer is not None:
            self.orders.append(str(answer["orderId"]))

    def cancel(self) -> None:
        if not self.orders:
            return
        order_id = self.orders.pop(self.rng.randrange(len(self.orders)))
        self._retried("cancel", "DELETE", f"/v1/orders/{order_id}", {"id": order_id},
                      done=(202, 404, 409))

    def read(self) -> None:
        status, answer = self._send("GET", "/v1/balances", None)
        self.history.add(Record(self.number, "read", {}, status, answer))
        if status == 200:
            for balance in answer["items"]:
                if Decimal(balance["available"]) < 0 or Decimal(balance["held"]) < 0:
                    self.history.saw_negative(self.number, balance)

    def withdraw(self) -> None:
        if self.chains and self.rng.random() < 0.5:
            chain = self.rng.choice(self.chains)
            body = {"currency": chain.code, "address": self.outside_addresses[chain.code],
                    "amount": chain.withdrawal, "key": uuid.uuid4().hex}
        else:
            body = {"currency": "USDT", "address": self.address, "amount": WITHDRAWAL_AMOUNT,
                    "key": uuid.uuid4().hex}
        self._retried("withdraw", "POST", "/v1/withdrawals", body, done=(201, 202))

    # Sending ---------------------------------------------------------------------

    def _retried(self, operation: str, method: str, path: str, body: dict, *,
                 binance: bool = False, done: tuple[int, ...] = (200, 201, 202)) -> Any:
        """Send until answered with a verdict (not 503, not silence); every attempt is
        recorded. The answer's body when acknowledged, else None."""
        for attempt in range(ATTEMPTS_MAX):
            status, answer = self._send(method, path, body, binance=binance)
            self.history.add(Record(self.number, operation, body, status, answer))
            error = answer.get("error") if isinstance(answer, dict) else None
            self._last_code = error.get("code") if isinstance(error, dict) else None
            if status is not None and status not in (429, 503):
                return answer if status in done and 200 <= status < 300 else None
            time.sleep(min(0.1 * 2 ** attempt, 2.0))
        return None

    def _send(self, method: str, path: str, body: dict | None, *,
              binance: bool = False) -> tuple[int | None, Any]:
        url = self.rng.choice(self.urls) + path
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            if binance:
                assert body is not None
                query = urlencode({**body, "timestamp": int(time.time() * 1000),
                                   "recvWindow": 10000})
                signature = hmac.new(self.secret.encode(), query.encode(),
                                     hashlib.sha256).hexdigest()
                response = self.http.request(method, f"{url}?{query}&signature={signature}",
                                             headers={"X-MBX-APIKEY": self.key},
                                             timeout=TIMEOUT_SECONDS)
            elif path == "/v1/withdrawals":
                assert body is not None
                sent = {k: v for k, v in body.items() if k != "key"}
                response = self.http.request(method, url, json=sent, timeout=TIMEOUT_SECONDS,
                                             headers={**headers, "Idempotency-Key": body["key"]})
            elif method == "DELETE":
                response = self.http.request(method, url, headers=headers,
                                             timeout=TIMEOUT_SECONDS)
            else:
                response = self.http.request(method, url, json=body, headers=headers,
                                             timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            return None, type(error).__name__
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:200]
