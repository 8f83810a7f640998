"""Orders and cancels through a real ``web`` process whose PostgreSQL connections pass a
TCP proxy that cuts them on cue (tests/pgproxy.py): a commit whose answer is lost is
answered once, with the one order it made; a fate the database never told is a 503 with
a code and ``Retry-After``, and repeating the request then is safe."""

import time
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from tests.api.client import Client
from tests.api.conftest import start_web
from tests.trading import assert_consistent, balances, create_market, place, runner

ANSWERS_MAX = 10     # a client's attempts while the web process's pools reconnect


@pytest.fixture
def proxied(settings, proxy, tmp_path, alice):
    """Alice, calling a web process whose every database connection goes through the
    proxy (her session token is signed with the same key)."""
    web, base_url = start_web(
        tmp_path, DATABASE_URL=proxy.url(settings.database_url),
        DATABASE_ADMIN_URL=settings.database_admin_url, REDIS_URL=settings.redis_url,
        SECRET_KEY=settings.secret_key.hex(), RATE_LIMIT_PER_IP="100000/minute",
        RATE_LIMIT_PER_USER="100000/minute")
    yield Client(base_url, alice.token)
    proxy.up()
    assert web.stop() == 0


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


def funded(client, market: str, quote: str) -> int:
    """The caller's user id, after the faucet (of the test session's web) credits it."""
    assert client.post("/v1/faucet", {"currency": market.split("-")[1],
                                      "amount": quote}).status_code == 201
    return int(client.get("/v1/me").json()["id"])


def writes_orders(transaction: str) -> bool:
    return "EXECUTE placing_insert_orders" in transaction


def commits_a_cancel(transaction: str) -> bool:
    return "INSERT INTO matcher_requests" in transaction and \
        transaction.rstrip().endswith("COMMIT")


def until_answered(send):  # type: ignore[no-untyped-def]
    """As a client does: again while the answer is a 503, after its Retry-After."""
    for _ in range(ANSWERS_MAX):
        response = send()
        if response.status_code != 503:
            return response
        assert response.headers["Retry-After"].isdigit()
        time.sleep(0.2)
    raise AssertionError(f"still 503 after {ANSWERS_MAX} attempts: {response.text}")


def orders_of(engine, user: int) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT o.*, (SELECT count(*) FROM transfers t "
                                 "WHERE t.kind = 'order_hold' AND t.reference = 'order:' || o.id"
                                 ") AS holds FROM orders o WHERE user_id = :u ORDER BY id"),
                            {"u": user}).all()


BUY = {"side": "buy", "type": "limit", "quantity": "1", "price": "10.00"}   # holds 10.02


def test_an_order_whose_commit_answer_is_lost_is_answered_with_its_one_order(
        alice, proxied, proxy, market, engine):
    quote = market.split("-")[1]
    user = funded(alice, market, "100")
    cut = proxy.cut_after_answer(writes_orders)

    response = proxied.post("/v1/orders", {"market": market, **BUY})

    assert cut.done.is_set()
    assert response.status_code == 202, response.text
    (row,) = orders_of(engine, user)
    assert response.json()["id"] == str(row.id) and row.holds == 1
    assert balances(engine, user)[quote] == (D("89.98"), D("10.02"))
    assert_consistent(engine)


def test_an_order_whose_outcome_stays_unknown_gets_503_and_its_retry_finds_it(
        alice, proxied, proxy, market, engine):
    quote = market.split("-")[1]
    user = funded(alice, market, "100")
    body = {"market": market, **BUY, "client_order_id": "bot-7"}
    cut = proxy.cut_after_answer(writes_orders, then_down=True)

    response = proxied.post("/v1/orders", body)

    assert cut.done.is_set()
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "outcome_unknown"
    assert response.headers["Retry-After"] == "1"
    (row,) = orders_of(engine, user)           # it had committed
    proxy.up()
    again = until_answered(lambda: proxied.post("/v1/orders", body))
    assert again.status_code == 202, again.text
    assert again.json()["id"] == str(row.id) and again.json()["client_order_id"] == "bot-7"
    assert orders_of(engine, user) == [row] and row.holds == 1
    assert balances(engine, user)[quote] == (D("89.98"), D("10.02"))
    assert_consistent(engine)


def test_a_cancel_whose_commit_answer_is_lost_gets_503_and_sent_again_cancels_once(
        alice, proxied, proxy, market, engine, settings):
    quote = market.split("-")[1]
    user = funded(alice, market, "100")
    order = place(engine, user, market, **BUY)
    cut = proxy.cut_after_answer(commits_a_cancel)

    response = proxied.delete(f"/v1/orders/{order['id']}")

    assert cut.done.is_set()
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "outcome_unknown"
    assert response.headers["Retry-After"] == "1"
    again = until_answered(lambda: proxied.delete(f"/v1/orders/{order['id']}"))
    assert again.status_code == 202, again.text
    runner(engine, settings, market).run_pending()
    (row,) = orders_of(engine, user)
    assert row.status == "cancelled" and row.hold_remaining == 0 and row.holds == 1
    with engine.connect() as conn:
        cancels = conn.execute(text("SELECT count(*) FROM matcher_requests WHERE order_id = :o "
                                    "AND kind = 'cancel' AND processed_at IS NOT NULL"),
                               {"o": row.id}).scalar_one()
        releases = conn.execute(text("SELECT count(*) FROM entries e JOIN accounts a "
                                     "ON a.id = e.account_id WHERE a.owner_user_id = :u "
                                     "AND a.kind = 'available'"), {"u": user}).scalar_one()
    assert cancels == 2       # both queued, the second found nothing left to cancel
    assert releases == 3      # the faucet's credit, the hold, one release
    assert balances(engine, user)[quote] == (D("100.00"), D("0.00"))
    assert_consistent(engine)
