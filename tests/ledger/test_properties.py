"""Random sequences of transfers keep every invariant, checked against a model in Python."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from ledger import AccountKind, InsufficientFunds, account, balance, move, post, reconcile
from tests.factories import create_currency, create_user

USERS = 4
SCALE = 8
WORLD = USERS  # index of the world account in the model

amounts = st.integers(min_value=1, max_value=5 * 10**9).map(
    lambda units: Decimal(units).scaleb(-SCALE))
steps = st.lists(st.tuples(st.integers(0, USERS), st.integers(0, USERS), amounts)
                 .filter(lambda step: step[0] != step[1]), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_random_transfers_keep_balances_equal_to_a_model(engine, admin_engine, steps):
    currency = create_currency(admin_engine, scale=SCALE)
    with engine.begin() as conn:
        accounts = [account(conn, create_user(conn), currency, AccountKind.AVAILABLE)
                    for _ in range(USERS)]
        accounts.append(account(conn, None, currency, AccountKind.WORLD))
    model = [Decimal(0)] * (USERS + 1)
    for number, (source, destination, amount) in enumerate(steps):
        expected_ok = source == WORLD or model[source] >= amount
        try:
            with engine.begin() as conn:
                post(conn, move(f"p-{currency}-{number}", "internal", accounts[source],
                                accounts[destination], amount))
            ok = True
        except InsufficientFunds:
            ok = False
        assert ok == expected_ok
        if ok:
            model[source] -= amount
            model[destination] += amount
    with engine.connect() as conn:
        assert [balance(conn, a) for a in accounts] == model
    assert sum(model) == 0
    assert all(amount >= 0 for amount in model[:USERS])
    assert reconcile(engine) == []
