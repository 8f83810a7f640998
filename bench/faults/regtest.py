"""A real bitcoind regtest network (ours and the world's node) behind currency ``RBTC``
(``bench.faults.chains``): a reorganisation undoes the tip on both nodes, and its
payments return to the mempool."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, insert

import config

from db.schema import currencies
from bench.faults.chains import Send
from tests.currencies.nodes import BitcoindNetwork, wait_for

CODE = "RBTC"
CONFIRMATIONS = 2
WITHDRAWAL_FEE = Decimal("0.0001")


class Regtest:
    code, confirmations_needed = CODE, CONFIRMATIONS
    deposit, withdrawal = Decimal("1"), "0.01"

    def __init__(self, directory: Path) -> None:
        self.network = BitcoindNetwork(directory)
        self.lock = threading.Lock()     # the nodes' RPC from the nemesis and the traders
        self.paid: list[tuple[str, str, Decimal]] = []   # (txid, address, amount)

    def env(self) -> dict[str, str]:
        return {f"NODE_URL_{CODE}": self.network.exchange.url}

    def register(self, admin_engine: Engine, settings: config.Settings) -> None:
        with admin_engine.begin() as conn:
            conn.execute(insert(currencies).values(
                code=CODE, name="Bitcoin (regtest)", scale=8, confirmations=CONFIRMATIONS,
                driver="bitcoind", withdrawal_fee=WITHDRAWAL_FEE,
                withdrawal_min=Decimal("0.001")))

    def pay_to(self, address: str, amount: Decimal) -> str:
        with self.lock:
            txid = self.network.pay_to(address, amount)
            self.paid.append((txid, address, amount))
        return txid

    def outside_address(self) -> str:
        with self.lock:
            return self.network.outside_address()

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self._mine(blocks)

    def reorganise(self) -> None:
        with self.lock:
            self.network.rollback(self.network.checkpoint() - 1)
            self._mine(2)

    def _mine(self, blocks: int) -> None:
        """Our node's unconfirmed payments handed to the world's node again first: after a
        reorganisation regtest's world node can drop some from its mempool, and would never
        mine them."""
        world, ours = self.network.world.rpc, self.network.exchange.rpc
        self.network.hand_over()
        world.call("generatetoaddress", blocks, world.call("getnewaddress"))
        wait_for(lambda: world.call("getbestblockhash") == ours.call("getbestblockhash"),
                 "our node to follow")

    def confirmations(self, txids: set[str]) -> dict[str, int]:
        """Each payment's confirmations on our node now (0: in the mempool, or stuck there:
        regtest's block assembler can leave a payment out after a reorganisation)."""
        with self.lock:
            rpc = self.network.exchange.rpc
            return {txid: int(rpc.call("gettransaction", txid)["confirmations"])
                    for txid in txids}

    def sends(self, engine: Engine) -> list[Send]:
        """Every payment our node's wallet made; its comment names the withdrawal
        (``withdrawal:<id>``, custody.withdrawals)."""
        with self.lock:
            rpc = self.network.exchange.rpc
            return [Send(tx["txid"], -Decimal(str(tx["amount"])),
                         str(tx.get("comment")).removeprefix("withdrawal:"))
                    for tx in rpc.call("listtransactions", "*", 100_000, 0)
                    if tx.get("category") == "send"]

    def stop(self) -> None:
        self.network.stop()

