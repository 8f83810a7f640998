"""Real chain nodes for the currency tests, and the outside world's side of them.

``BitcoindNetwork`` runs two regtest ``bitcoind`` peers: one is the exchange's
node (its wallet is ours), the other is the world (it mines, and it pays us).
``AnvilChain`` runs ``anvil`` with mining by hand; its unlocked accounts play the
world. Each offers the same test-side verbs: ``pay_to``, ``mine``, ``checkpoint``
and ``rollback`` (a reorganisation), ``foreign_address`` (another network's) and
``outside_address`` (somebody else's on this network).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from eth_utils import to_checksum_address
from sqlalchemy import text

from currencies.errors import CurrencyError
from currencies.jsonrpc import JsonRpc, RpcError
from currencies.registry import driver_for
from tests.factories import create_currency
from tools import fetch_nodes

START_TIMEOUT_SECONDS = 30
SYNC_TIMEOUT_SECONDS = 20
MAINNET_ADDRESS = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, timeout: float = SYNC_TIMEOUT_SECONDS):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except CurrencyError:            # not up yet, or still warming up
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Process:
    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class Bitcoind(_Process):
    USER, PASSWORD = "exchange", "regtest-only"

    def __init__(self, datadir: Path, peer_port: int | None = None) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        self.rpc_port, self.p2p_port = free_port(), free_port()
        command = [str(fetch_nodes.bitcoind()), "-regtest", f"-datadir={datadir}",
                   f"-rpcport={self.rpc_port}", f"-port={self.p2p_port}",
                   "-bind=127.0.0.1", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
                   f"-rpcuser={self.USER}", f"-rpcpassword={self.PASSWORD}", "-server=1",
                   "-listen=1", "-txindex=1", "-whitelist=127.0.0.1", "-printtoconsole=0",
                   "-excessiveblocksize=10000000000", "-maxstackmemoryusageconsensus=0",
                   "-minminingtxfee=0.00000500", "-dnsseed=0", "-discover=0"]
        if peer_port is not None:
            command.append(f"-connect=127.0.0.1:{peer_port}")
        super().__init__(command, datadir / "node.log")
        self.url = f"http://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.rpc_port}"
        self.rpc = JsonRpc(self.url)
        wait_for(lambda: self.rpc.call("getblockcount") is not None, "bitcoind to start",
                 START_TIMEOUT_SECONDS)


class BitcoindNetwork:
    def __init__(self, directory: Path) -> None:
        self.world = Bitcoind(directory / "world")
        self.exchange = Bitcoind(directory / "exchange", peer_port=self.world.p2p_port)
        wait_for(lambda: self.world.rpc.call("getconnectioncount") > 0, "the peers to connect")
        self.mine(101)                      # the world's first coinbase matures

    def stop(self) -> None:
        self.exchange.stop()
        self.world.stop()

    def _synced(self) -> bool:
        return self.world.rpc.call("getbestblockhash") == \
            self.exchange.rpc.call("getbestblockhash")

    def pay_to(self, address: str, amount: Decimal) -> str:
        txid = self.world.rpc.call("sendtoaddress", address, amount)
        wait_for(lambda: txid in self.exchange.rpc.call("getrawmempool"), "the payment to relay")
        return txid

    def hand_over(self) -> None:
        """Our node announces a payment to its one peer once, and one that it dropped and
        took back after a reorganisation not again: the world's node is handed what our
        node's pool holds and its own does not, as the rest of a network would be."""
        theirs = set(self.world.rpc.call("getrawmempool"))
        for txid in set(self.exchange.rpc.call("getrawmempool")) - theirs:
            try:
                self.world.rpc.call("sendrawtransaction",
                                    self.exchange.rpc.call("getrawtransaction", txid))
            except RpcError:
                pass      # it conflicts with what the world's node holds: not ours to mine

    def mine(self, blocks: int = 1) -> int:
        self.hand_over()
        wait_for(lambda: set(self.exchange.rpc.call("getrawmempool"))
                 <= set(self.world.rpc.call("getrawmempool")), "our payments to relay")
        # A fresh address each time: a block mined after a rollback never repeats one.
        self.world.rpc.call("generatetoaddress", blocks, self.world.rpc.call("getnewaddress"))
        wait_for(self._synced, "the exchange's node to follow")
        return int(self.exchange.rpc.call("getblockcount"))

    def checkpoint(self) -> int:
        return int(self.exchange.rpc.call("getblockcount"))

    def rollback(self, height: int) -> None:
        for node in (self.world, self.exchange):
            node.rpc.call("invalidateblock", node.rpc.call("getblockhash", height + 1))
        wait_for(self._synced, "both nodes to reorganise")

    def foreign_address(self) -> str:
        return MAINNET_ADDRESS

    def outside_address(self) -> str:
        return self.world.rpc.call("getnewaddress")

    def received(self, address: str) -> Decimal:
        return self.world.rpc.call("getreceivedbyaddress", address, 0)


class AnvilChain(_Process):
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        super().__init__([str(fetch_nodes.anvil()), "--host", "127.0.0.1", "--port", str(port),
                          "--no-mining", "--silent"], directory / "anvil.log")
        self.url = f"http://127.0.0.1:{port}"
        self.rpc = JsonRpc(self.url)
        self.accounts = wait_for(lambda: self.rpc.call("eth_accounts"), "anvil to start",
                                 START_TIMEOUT_SECONDS)

    def pay_to(self, address: str, amount: Decimal) -> str:
        return self.rpc.call("eth_sendTransaction", {
            "from": self.accounts[0], "to": address, "value": hex(int(amount.scaleb(18)))})

    def mine(self, blocks: int = 1) -> int:
        self.rpc.call("anvil_mine", hex(blocks))
        return int(self.rpc.call("eth_blockNumber"), 16)

    def checkpoint(self) -> str:
        return self.rpc.call("evm_snapshot")

    def rollback(self, snapshot: str) -> None:
        assert self.rpc.call("evm_revert", snapshot)

    def foreign_address(self) -> str:
        return MAINNET_ADDRESS

    def outside_address(self) -> str:
        return to_checksum_address("0x" + secrets.token_hex(20))

    def received(self, address: str) -> Decimal:
        return Decimal(int(self.rpc.call("eth_getBalance", address, "pending"), 16)).scaleb(-18)


class SimulatedWorld:
    """The outside world of a simulated chain (which keeps the world's side too)."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def pay_to(self, address: str, amount: Decimal) -> str:
        return self.driver.pay_to(address, amount)

    def mine(self, blocks: int = 1) -> int:
        return self.driver.mine(blocks)

    def checkpoint(self) -> int:
        return self.driver.tip_height()

    def rollback(self, height: int) -> None:
        self.driver.rollback_to(height)

    def foreign_address(self) -> str:
        body = "simzzz1" + secrets.token_hex(16)
        return body + hashlib.sha256(body.encode()).hexdigest()[:6]

    def outside_address(self) -> str:
        body = self.driver.prefix + secrets.token_hex(16)
        return body + hashlib.sha256(body.encode()).hexdigest()[:6]

    def received(self, address: str) -> Decimal:
        with self.driver.engine.connect() as conn:
            return conn.execute(text(
                "SELECT coalesce(sum(amount), 0) FROM simulated_chain_transactions "
                "WHERE currency = :c AND outgoing AND to_address = :a"),
                {"c": self.driver.code, "a": address}).scalar_one()


def driver_on(engine, admin_engine, settings, node_url: str, driver: str, scale: int,
              confirmations: int, **withdrawals):
    """A new currency served by ``driver`` on the node at ``node_url``."""
    code = create_currency(admin_engine, scale=scale, driver=driver,
                           confirmations=confirmations, **withdrawals)
    settings = settings.__class__(**{**settings.__dict__, "node_urls": {code: node_url}})
    return driver_for(engine, code, settings)
