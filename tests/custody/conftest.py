"""After each test here, the ledger still reconciles."""

import pytest


@pytest.fixture(autouse=True)
def ledger_reconciles_after_each_test(engine):
    yield
    from ledger import reconcile

    assert reconcile(engine) == []
