"""Real nodes, started once per test session and shared by the currency tests."""

import pytest

from tests.currencies.nodes import AnvilChain, BitcoindNetwork


@pytest.fixture(scope="session")
def bitcoin_network(tmp_path_factory):
    network = BitcoindNetwork(tmp_path_factory.mktemp("bitcoind"))
    yield network
    network.stop()


@pytest.fixture(scope="session")
def anvil_chain(tmp_path_factory):
    node = AnvilChain(tmp_path_factory.mktemp("anvil"))
    yield node
    node.stop()


@pytest.fixture(autouse=True)
def ledger_reconciles_after_each_test(engine):
    yield
    from ledger import reconcile

    assert reconcile(engine) == []
