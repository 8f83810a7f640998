"""Many clients racing for one balance: the database lets exactly one win."""

import threading
from decimal import Decimal

from ledger import AccountKind, InsufficientFunds, account, balance, move, post, reconcile
from tests.factories import create_currency, create_user, deposit

ATTEMPTS = 200


def test_200_concurrent_moves_of_a_full_balance_exactly_one_succeeds(settings, engine,
                                                                     admin_engine):
    from db import engine as engines

    currency = create_currency(admin_engine)
    with engine.begin() as conn:
        owner = create_user(conn)
        deposit(conn, owner, currency, Decimal("5.00000001"))
        source = account(conn, owner, currency, AccountKind.AVAILABLE)
        destinations = [account(conn, create_user(conn), currency, AccountKind.AVAILABLE)
                        for _ in range(ATTEMPTS)]
    racing = engines.create(settings.database_url, pool_size=ATTEMPTS)
    connections = [racing.connect() for _ in range(ATTEMPTS)]
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []

    def attempt(index: int) -> None:
        conn = connections[index]
        barrier.wait()
        try:
            with conn.begin():
                post(conn, move(f"race-{currency}-{index}", "internal", source,
                                destinations[index], Decimal("5.00000001")))
            outcomes.append("moved")
        except InsufficientFunds:
            outcomes.append("insufficient")
        except Exception as error:  # recorded, so the assertion below shows it
            outcomes.append(repr(error))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for conn in connections:
        conn.close()
    racing.dispose()

    assert sorted(set(outcomes)) == ["insufficient", "moved"]
    assert outcomes.count("moved") == 1
    assert outcomes.count("insufficient") == ATTEMPTS - 1
    with engine.connect() as conn:
        assert balance(conn, source) == Decimal("0")
        credited = [balance(conn, d) for d in destinations]
    assert sorted(credited) == [Decimal("0")] * (ATTEMPTS - 1) + [Decimal("5.00000001")]
    assert reconcile(engine) == []
