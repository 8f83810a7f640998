"""A real Ethereum dev chain (anvil, mining by hand) behind currency ``RETH``
(``bench.faults.chains``). Its unlocked account is the world that pays the traders.

anvil undoes blocks with ``evm_revert`` to a snapshot, which also forgets the payments
they held and those waiting in its pool. A real reorganisation returns them to the pool,
so before undoing the tip this harness reads every one of them raw and sends them again
afterwards, as the network's other nodes would: the exchange's own sends included."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, insert, text

import config
from bench.faults.chains import Send
from currencies.ethereum import EthereumWallet
from currencies.jsonrpc import RpcError
from currencies.registry import driver_for
from db.schema import currencies
from tests.currencies.nodes import AnvilChain

CODE = "RETH"
CONFIRMATIONS = 2
SCALE = 8
WITHDRAWAL_FEE = Decimal("0.001")    # above the 21,000 gas of a transfer at anvil's prices
FLOAT = Decimal("1")                 # the operator's own coins in the hot wallet: sweeps' gas


class Anvil:
    code, confirmations_needed = CODE, CONFIRMATIONS
    deposit, withdrawal = Decimal("1"), "0.01"

    def __init__(self, directory: Path) -> None:
        self.node = AnvilChain(directory)
        self.rpc = self.node.rpc
        self.lock = threading.Lock()
        self.paid: list[tuple[str, str, Decimal]] = []
        self._before_tip: str | None = None    # the snapshot the tip block was mined on

    def env(self) -> dict[str, str]:
        return {f"NODE_URL_{CODE}": self.node.url}

    def register(self, admin_engine: Engine, settings: config.Settings) -> None:
        """The currency, and the operator's float paid into its hot wallet (mined)."""
        with admin_engine.begin() as conn:
            conn.execute(insert(currencies).values(
                code=CODE, name="Ether (anvil)", scale=SCALE, confirmations=CONFIRMATIONS,
                driver="ethereum", withdrawal_fee=WITHDRAWAL_FEE,
                withdrawal_min=Decimal("0.001")))
        wallet = driver_for(admin_engine, CODE, settings)
        assert isinstance(wallet, EthereumWallet)
        hot = wallet.hot_wallet()[1]
        with self.lock:
            self.node.pay_to(hot, FLOAT)
            self._mine(1)

    def pay_to(self, address: str, amount: Decimal) -> str:
        with self.lock:
            txid = self.node.pay_to(address, amount)
            self.paid.append((txid, address, amount))
        return txid

    def outside_address(self) -> str:
        return self.node.outside_address()

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self._mine(blocks)

    def _mine(self, blocks: int) -> None:
        for _ in range(blocks):
            self._before_tip = self.rpc.call("evm_snapshot")
            self.rpc.call("anvil_mine", "0x1")

    def reorganise(self) -> None:
        with self.lock:
            if self._before_tip is None:      # undone already: nothing to undo under it
                self._mine(2)
                return
            tip = self.rpc.call("eth_getBlockByNumber", "latest", False)
            pool = self.rpc.call("txpool_content")
            waiting = [tx["hash"] for by_sender in pool["pending"].values()
                       for tx in sorted(by_sender.values(), key=lambda t: int(t["nonce"], 16))]
            raws = [self.rpc.call("eth_getRawTransactionByHash", txid)
                    for txid in [*tip["transactions"], *waiting]]
            assert self.rpc.call("evm_revert", self._before_tip)
            self._before_tip = None
            for raw in raws:
                try:
                    self.rpc.call("eth_sendRawTransaction", raw)
                except RpcError:
                    pass      # known again already
            self._mine(2)

    def confirmations(self, txids: set[str]) -> dict[str, int]:
        """Each payment's confirmations now (0: waiting in the pool)."""
        with self.lock:
            tip = int(self.rpc.call("eth_blockNumber"), 16)
            receipts = self.rpc.batch([("eth_getTransactionReceipt", (t,)) for t in txids])
        return {txid: 0 if receipt is None else tip - int(receipt["blockNumber"], 16) + 1
                for txid, receipt in zip(txids, receipts)}

    def sends(self, engine: Engine) -> list[Send]:
        """Every payment from the hot wallet to someone outside, mined or waiting."""
        with engine.connect() as conn:
            ours = {a.lower() for a in conn.execute(text(
                "SELECT address FROM wallet_keys WHERE currency = :c"), {"c": CODE}).scalars()}
            hot = conn.execute(text("SELECT address FROM wallet_keys WHERE currency = :c "
                                    "AND label = 'hot-wallet'"), {"c": CODE}).scalar_one()
        with self.lock:
            tip = int(self.rpc.call("eth_blockNumber"), 16)
            blocks = self.rpc.batch([("eth_getBlockByNumber", (hex(n), True))
                                     for n in range(tip + 1)])
            pool = self.rpc.call("txpool_content")["pending"]
        transactions = [tx for block in blocks for tx in block["transactions"]]
        transactions += [tx for sender, by_nonce in pool.items() if sender.lower() == hot.lower()
                         for tx in by_nonce.values()]
        return [Send(tx["hash"], Decimal(int(tx["value"], 16)).scaleb(-18), None)
                for tx in transactions
                if tx["from"].lower() == hot.lower() and (tx.get("to") or "").lower() not in ours]

    def stop(self) -> None:
        self.node.stop()
