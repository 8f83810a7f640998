"""Every native error code has its Binance code and message, in one table."""

from __future__ import annotations

import re
from pathlib import Path

import config
from api.binance.errors import TABLE, from_native
from api.errors import ERROR_TABLE, ApiError

# Where native codes are spelled: ApiError(status, "code"...), code="...", code = "...".
SPELLINGS = (re.compile(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"'),
             re.compile(r'\bcode\s*=\s*"([a-z_]+)"'),
             re.compile(r'(?:CustodyError|Refused|NotCancellable|super\(\).__init__)\(\s*"([a-z_]+)",'))
PACKAGES = ("api", "trading", "users", "ledger", "currencies", "custody", "db", "matcher")


def native_codes() -> set[str]:
    found = {code for _, _, code in ERROR_TABLE if code}
    for package in PACKAGES:
        for path in (config.PROJECT_DIR / package).rglob("*.py"):
            if "binance" in path.parts:
                continue
            text = Path(path).read_text()
            for spelling in SPELLINGS:
                found.update(spelling.findall(text))
    return found


def test_every_native_code_is_in_the_table():
    codes = native_codes()
    assert len(codes) > 40
    assert sorted(codes - set(TABLE)) == []


def test_the_messages_ccxt_matches_on_are_binance_s_own():
    assert from_native(ApiError(422, "insufficient_funds", "x")).msg == \
        "Account has insufficient balance for requested action."
    assert (from_native(ApiError(400, "price_off_tick", "x", "price")).msg,
            from_native(ApiError(400, "price_off_tick", "x")).code) == (
        "Filter failure: PRICE_FILTER", -1013)
    limited = from_native(ApiError(429, "rate_limited", "too many requests (5 per 1 minute); "
                                   "retry after 3 s", headers={"Retry-After": "3"}))
    assert (limited.status, limited.code, limited.headers) == (429, -1003, {"Retry-After": "3"})
    assert "5 per 1 minute" in limited.msg
    assert from_native(ApiError(400, "invalid_request", "x", "quantity")).msg == (
        "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
