"""The ``maker`` process of the Procfile against the real stack (web, matcher, scheduler):
its quotes on the markets' grids, a book on both sides, trades, and after SIGTERM no
order of its left open and its balances exactly the faucet's grants less its trades."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from db.schema import accounts, entries, fills, orders, trades, transfers, users
from ledger import reconcile, user_balances
from tests.processes import Process, free_port, wait_for_http
from tests.trading import create_market

TICK, LOT = Decimal("0.01"), Decimal("0.001")
ACTIVE = ("accepted", "open", "partially_filled")


@pytest.fixture(scope="module")
def stack(settings, admin_engine, tmp_path_factory):
    """Two new markets, then web (at the default rate limits), a matcher and the scheduler."""
    logs = tmp_path_factory.mktemp("maker-stack")
    # Quote scale 8: price x lot is exact there, so balances follow from the fills exactly.
    chosen = [create_market(admin_engine, quote_scale=8) for _ in range(2)]
    url = f"http://127.0.0.1:{free_port()}"
    processes = [Process("web", logs, PORT=url.rsplit(":", 1)[1], DEMO_MODE="true"),
                 Process("matcher", logs), Process("scheduler", logs, DEMO_MODE="false")]
    wait_for_http(url + "/healthz", processes[0])
    yield url, chosen, logs
    for process in processes:
        assert process.stop() == 0, process.output()[-3000:]


def _maker(stack, demo: bool, url: str | None = None) -> tuple[Process, object]:
    url, chosen, logs = url or stack[0], stack[1], stack[2]
    state = logs / f"maker-{time.monotonic_ns()}.json"
    return Process("maker", logs, API_PUBLIC_URL=url, DEMO_MODE=str(demo).lower(),
                   DEMO_MAKER_STATE=str(state), DEMO_MAKER_MARKETS=",".join(chosen)), state


def _until(check, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.5)
    return found


def _laddered(url: str, market: str) -> dict | None:
    response = requests.get(f"{url}/v1/markets/{market}/book?depth=20", timeout=5)
    assert response.status_code == 200, response.text    # the maker leaves us room
    book = response.json()
    return book if len(book["bids"]) >= 5 and len(book["asks"]) >= 5 else None


def _user_ids(engine, state) -> dict[str, int]:
    saved = json.loads(state.read_text())
    with engine.connect() as conn:
        return {role: conn.execute(select(users.c.id).where(
            users.c.email == account["email"])).scalar_one() for role, account in saved.items()}


def _open_orders(engine, user_id: int):
    with engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.user_id == user_id,
                                                 orders.c.status.in_(ACTIVE))).all()


def _trades(engine, market: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(trades)
                            .where(trades.c.market == market)).scalar_one()


def _expected(engine, user_id: int) -> dict[str, Decimal]:
    """The faucet's grants, plus and minus every fill, less every fee."""
    expected: dict[str, Decimal] = {}
    with engine.connect() as conn:
        for currency, amount in conn.execute(
                select(accounts.c.currency, func.sum(entries.c.amount))
                .join(accounts, accounts.c.id == entries.c.account_id)
                .join(transfers, transfers.c.id == entries.c.transfer_id)
                .where(transfers.c.kind == "faucet", accounts.c.owner_user_id == user_id)
                .group_by(accounts.c.currency)):
            expected[currency] = amount
        for fill in conn.execute(select(fills).where(fills.c.user_id == user_id)):
            base, quote = fill.market.split("-")
            sign = 1 if fill.side == "buy" else -1
            expected[base] += sign * fill.quantity
            expected[quote] -= sign * fill.price * fill.quantity
            expected[fill.fee_currency] -= fill.fee
    return expected


def test_the_maker_quotes_on_the_grid_trades_and_leaves_nothing_open_when_stopped(
        stack, engine):
    url, chosen, logs = stack
    maker, state = _maker(stack, demo=True)
    for market in chosen:
        book = _until(lambda: _laddered(url, market), what=f"a ladder on both sides of {market}")
        assert max(Decimal(p) for p, _ in book["bids"]) < min(Decimal(p) for p, _ in book["asks"])
        _until(lambda: _trades(engine, market) >= 3, what=f"trades in {market}")
    ids = _user_ids(engine, state)
    with engine.connect() as conn:
        placed = conn.execute(select(orders).where(orders.c.user_id.in_(ids.values()))).all()
    assert {o.market for o in placed} == set(chosen)
    assert {o.type for o in placed if o.user_id == ids["maker"]} == {"limit"}
    assert {o.type for o in placed if o.user_id == ids["taker"]} == {"market"}
    for order in placed:
        assert order.quantity % LOT == 0 and order.quantity > 0, order
        assert order.price is None or order.price % TICK == 0, order

    started = time.monotonic()
    assert maker.stop(signal.SIGTERM) == 0, maker.output()[-3000:]
    assert time.monotonic() - started < 5
    output = maker.output()
    assert "cancelled every quote" in output
    assert '"level": "WARNING"' not in output and '"level": "ERROR"' not in output, \
        output[-3000:]
    assert "refused=0" in output            # no order found too little money
    _until(lambda: not _open_orders(engine, ids["maker"]), timeout=15,
           what="the maker's quotes cancelled")
    assert reconcile(engine) == []
    for role, user_id in ids.items():
        with engine.connect() as conn:
            held = user_balances(conn, user_id)
        expected = _expected(engine, user_id)
        assert {c: (b.available, b.held) for c, b in held.items()} == {
            c: (amount, 0) for c, amount in expected.items()}, role


def test_outside_demo_mode_the_maker_places_nothing_and_stops_at_once(stack, engine):
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    maker, state = _maker(stack, demo=False)
    maker.wait_for_output("demo mode is off")
    time.sleep(2)
    assert maker.process.poll() is None          # idle, so that a runner does not restart it
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == before
    assert not state.exists()
    started = time.monotonic()
    assert maker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 2


def test_the_maker_waits_out_an_api_restart_and_quotes_again_from_a_clean_slate(stack, engine):
    _, chosen, logs = stack
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = Process("web", logs, PORT=str(port), DEMO_MODE="true")
    wait_for_http(url + "/healthz", web)
    maker, state = _maker(stack, demo=True, url=url)
    _until(lambda: _laddered(url, chosen[0]), what="a ladder before the restart")
    web.kill()
    maker.wait_for_output("away or busy")
    web = Process("web", logs, PORT=str(port), DEMO_MODE="true")
    wait_for_http(url + "/healthz", web)
    _until(lambda: maker.output().count("quoting ") == 2, what="a new session")
    book = _until(lambda: _laddered(url, chosen[0]), what="a ladder after the restart")
    assert len(book["bids"]) == len(book["asks"]) == 5     # the old quotes were cancelled
    assert maker.stop() == 0, maker.output()[-3000:]
    assert web.stop() == 0
    _until(lambda: not _open_orders(engine, _user_ids(engine, state)["maker"]), timeout=15,
           what="the maker's quotes cancelled")
