"""The maker's two accounts (``maker`` quotes, ``taker`` crosses), made and funded through
the native API as a person would: sign up, log in, create an API key, press the faucet.

Their credentials are kept in one file (mode 0600, under ``var/`` unless
``DEMO_MAKER_STATE`` says otherwise), so that a restart reuses the accounts and their
keys instead of spending the sign-up, log-in and key-creation limits again. A key the
exchange no longer knows (a fresh database) is replaced; an account it no longer knows
is made anew.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from demo_maker.errors import AccountRefused, ApiAway
from demo_maker.pacing import Pacer

ROLES = ("maker", "taker")
EMAIL_DOMAIN = "demo.test"
TIMEOUT_SECONDS = 5
# What one press of the faucet gives of the demo's currencies (admin.demo makes them),
# and of any other simulated currency; the faucet gives at most 100,000 at a time.
GRANTS = {"BTC": Decimal("10"), "ETH": Decimal("200"), "USDT": Decimal("100000")}
GRANT_DEFAULT = Decimal("1000")

log = logging.getLogger("demo_maker")


@dataclass
class Account:
    role: str
    email: str
    password: str
    key: str = ""
    secret: str = ""


def grant(currency: str) -> Decimal:
    return GRANTS.get(currency, GRANT_DEFAULT)


class Accounts:
    def __init__(self, api_url: str, path: Path, pacer: Pacer) -> None:
        self.api_url = api_url
        self.path = path
        self._pacer = pacer
        self._http = requests.Session()
        self._tokens: dict[str, str] = {}
        self.by_role = self._read()

    def ensure(self) -> dict[str, Account]:
        """Both accounts, made and keyed if they are not yet."""
        for role in ROLES:
            if role not in self.by_role:
                self.by_role[role] = self._sign_up(role)
            if not self.by_role[role].key:
                self.renew_key(role)
        return self.by_role

    def renew_key(self, role: str) -> Account:
        """A new API key (the old one is unknown to the exchange), or a new account if the
        exchange no longer knows this one."""
        account = self.by_role[role]
        if not self._log_in(account):
            account = self.by_role[role] = self._sign_up(role)
            self._log_in(account, required=True)
        created = self._call("POST", "/v1/api-keys", {"scopes": ["read", "trade"],
                                                      "label": "demo maker"}, role).json()
        account.key, account.secret = created["id"], created["secret"]
        self._write()
        log.info("%s %s has a new API key %s", role, account.email, account.key)
        return account

    def fund(self, role: str, currency: str, amount: Decimal) -> bool:
        """One press of the faucet; False when the faucet will not give this currency now."""
        if role not in self._tokens:
            self._log_in(self.by_role[role], required=True)
        response = self._call("POST", "/v1/faucet",
                              {"currency": currency, "amount": str(amount)}, role, refusals=True)
        if response.status_code == 401:      # the session expired: once more, logged in
            self._log_in(self.by_role[role], required=True)
            response = self._call("POST", "/v1/faucet",
                                  {"currency": currency, "amount": str(amount)}, role,
                                  refusals=True)
        if response.status_code != 201:
            log.info("the faucet gives %s no %s now: %s", role, currency, _code(response))
            return False
        log.info("the faucet gave %s %s %s", role, amount, currency)
        return True

    def _sign_up(self, role: str) -> Account:
        account = Account(role, f"demo-{role}-{secrets.token_hex(4)}@{EMAIL_DOMAIN}",
                          secrets.token_urlsafe(24))
        self._call("POST", "/v1/users", {"email": account.email, "password": account.password})
        self.by_role[role] = account
        self._write()
        log.info("signed up the %s account %s", role, account.email)
        return account

    def _log_in(self, account: Account, required: bool = False) -> bool:
        response = self._call("POST", "/v1/sessions", {"email": account.email,
                                                       "password": account.password},
                              refusals=not required)
        if response.status_code != 201:
            return False
        self._tokens[account.role] = response.json()["token"]
        return True

    def _call(self, method: str, path: str, body: dict[str, Any], role: str | None = None,
              refusals: bool = False) -> requests.Response:
        """One native request; ApiAway when the API is away or busy, AccountRefused for any
        other refusal unless ``refusals`` asks for the response."""
        self._pacer.take()
        headers = {"Authorization": f"Bearer {self._tokens[role]}"} if role in self._tokens else {}
        try:
            response = self._http.request(method, self.api_url + path, json=body,
                                          headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise ApiAway(f"{method} {path}: {error}") from error
        if response.status_code >= 500 or (response.status_code == 429
                                           and "faucet" not in path):
            raise ApiAway(f"{method} {path}: {response.status_code} {_code(response)}")
        if response.status_code >= 400 and not refusals:
            raise AccountRefused(f"{method} {path}: {response.status_code} {_code(response)}")
        return response

    def _read(self) -> dict[str, Account]:
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {role: Account(**fields) for role, fields in saved.items() if role in ROLES}

    def _write(self) -> None:
        """Written aside and renamed, so that a crash leaves the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({role: asdict(account) for role, account in self.by_role.items()}, file)
        os.replace(draft, self.path)


def _code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
