"""A real bitcoind regtest network (ours and the world's node) behind currency ``RBTC``:
the traders' deposits are real payments, their withdrawals real sends; blocks are mined,
held back and reorganised at random while the rest of the faults go on.

    mine     a block (every few seconds, as a chain does)
    reorg    the tip block undone on both nodes, then two blocks mined (its payments
             return to the mempool and are mined again)
    delay    no block for up to 20 s
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from db.schema import currencies
from currencies.jsonrpc import RpcError
from tests.currencies.nodes import BitcoindNetwork, wait_for

CODE = "RBTC"
CONFIRMATIONS = 2
WITHDRAWAL_FEE = Decimal("0.0001")
BLOCK_SECONDS = (1.0, 4.0)
DELAY_SECONDS = (5.0, 20.0)


class Regtest:
    def __init__(self, directory: Path) -> None:
        self.network = BitcoindNetwork(directory)
        self.lock = threading.Lock()     # the nodes' RPC from the nemesis and the traders
        self.paid: list[tuple[str, str, Decimal]] = []   # (txid, address, amount)

    def env(self) -> dict[str, str]:
        return {f"NODE_URL_{CODE}": self.network.exchange.url}

    def register(self, admin_engine: Engine) -> None:
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
        theirs = set(world.call("getrawmempool"))
        for txid in set(ours.call("getrawmempool")) - theirs:
            try:
                world.call("sendrawtransaction", ours.call("getrawtransaction", txid))
            except RpcError:
                pass      # it conflicts with what the world's node holds: not ours to mine
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

    def sends(self) -> list[dict[str, Any]]:
        """Every payment our node's wallet made."""
        with self.lock:
            rpc = self.network.exchange.rpc
            return [tx for tx in rpc.call("listtransactions", "*", 100_000, 0)
                    if tx.get("category") == "send"]

    def stop(self) -> None:
        self.network.stop()


class ChainNemesis(threading.Thread):
    def __init__(self, chain: Regtest, seed: int, stopping: threading.Event,
                 injected: Counter[str]) -> None:
        super().__init__(name="chain", daemon=True)
        self.chain, self.rng, self.stopping = chain, random.Random(seed ^ 0x5EED), stopping
        self.injected = injected
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.rng.uniform(*BLOCK_SECONDS)):
                roll = self.rng.random()
                if roll < 0.08:
                    self.chain.reorganise()
                    self.injected["chain-reorg"] += 1
                elif roll < 0.14:
                    self.stopping.wait(self.rng.uniform(*DELAY_SECONDS))
                    self.injected["chain-delay"] += 1
                else:
                    self.chain.mine()
                    self.injected["chain-mine"] += 1
        except BaseException as error:   # reported by the run, never hidden
            self.failure = error
