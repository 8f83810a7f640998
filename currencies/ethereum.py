"""Ethereum (and EVM chains of the same shape): native coin, keys held by us.

Configured by a currency row with driver ``ethereum``, ``NODE_URL_<CODE>`` (any
JSON-RPC node) and ``WALLET_SEED``. Every key is derived from the seed and an index
kept in ``wallet_keys``; private keys are never stored. Index 0 of a currency is
its hot wallet, which pays withdrawals; deposit addresses are swept into it by
``consolidate``.

A send is signed first and stored in ``wallet_sends`` under the withdrawal's id,
in a committed transaction, and only then broadcast. A retry finds the stored
transaction and broadcasts the same bytes again: the same nonce can be mined at
most once, so a withdrawal can never be paid twice, whatever crashed when.

Once stored, a signed transaction is a payment that anyone who saw its bytes (the
node, a provider in front of it, a peer it reached) may broadcast at any time, and
no answer of a node proves that it did not. One that a reorganisation took out of
the chain, and the node out of its pool, is broadcast again when its confirmations
are asked for: it is still ours to be mined. So its withdrawal is refunded
(``PaymentRefused``) on one proof only: the hot wallet's nonce, read at the block
``confirmations`` deep, is past the transaction's nonce, and the transaction has no
receipt. Another transaction then spent that nonce, as deep as a deposit must be to
count, and a nonce is spent once. Every other failure to broadcast (the node's
refusal, an HTTP 401/403, a refused lookup) is a ``NodeError``: the withdrawal stays
``sending`` for an operator, and each retry broadcasts the same bytes again.

Nonces leave no gap: a new payment is signed at the node's pending nonce, and only
once every stored transaction is known to the node (in its pool or mined). Until
then the stored ones are broadcast again in nonce order, and the new payment waits
unsigned (``PaymentDeferred``): signed past a stuck nonce, it would be reported sent
while it could not be mined before the stuck one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import ROUND_DOWN, Decimal

from eth_account import Account
from eth_utils import is_checksum_address, to_checksum_address
from sqlalchemy import Connection, Engine, text

from currencies.base import ChainDeposit, CurrencyDriver, CurrencySettings
from currencies.errors import (
    CurrencyError, NodeError, PaymentDeferred, PaymentRefused, TemporaryNodeError,
    WalletUnderfunded,
)
from currencies.jsonrpc import JsonRpc, RpcError
from money import check_scale

WEI_DIGITS = 18
TRANSFER_GAS = 21_000
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HOT_WALLET_LABEL = "hot-wallet"
SCAN_BLOCKS_PER_BATCH = 50
STORED_REBROADCAST_MAX = 64          # stored transactions the node lost, sent again per send
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
TXID = re.compile(r"0x[0-9a-f]{64}")


def _hex(number: int) -> str:
    return hex(number)


def _wei(amount: Decimal) -> int:
    return int(amount.scaleb(WEI_DIGITS))


class EthereumWallet(CurrencyDriver):
    def __init__(self, currency: CurrencySettings, engine: Engine) -> None:
        super().__init__(currency, engine)
        if not currency.node_url:
            raise NodeError(f"{currency.code} needs NODE_URL_{currency.code} (its node)")
        if not currency.wallet_seed:
            raise NodeError(f"{currency.code} needs WALLET_SEED to derive its keys")
        self.rpc = JsonRpc(currency.node_url)
        self._seed = currency.wallet_seed
        self._chain_id: int | None = None

    # Keys and addresses.

    def _private_key(self, index: int) -> bytes:
        digest = hmac.new(self._seed, f"{self.code}:{index}".encode(), hashlib.sha256).digest()
        return (int.from_bytes(digest, "big") % (SECP256K1_ORDER - 1) + 1).to_bytes(32, "big")

    def _address_of(self, index: int) -> str:
        return Account.from_key(self._private_key(index)).address

    def _new_key(self, label: str) -> str:
        with self.engine.begin() as conn:
            index = conn.execute(text("SELECT nextval('wallet_key_index')")).scalar_one()
            address = self._address_of(index)
            conn.execute(text("INSERT INTO wallet_keys (currency, key_index, address, label) "
                              "VALUES (:c, :i, :a, :l)"),
                         {"c": self.code, "i": index, "a": address, "l": label})
        return address

    def hot_wallet(self) -> tuple[int, str]:
        """The index and address of the key that pays withdrawals (made on first use)."""
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT key_index, address FROM wallet_keys "
                                    "WHERE currency = :c AND label = :l"),
                               {"c": self.code, "l": HOT_WALLET_LABEL}).first()
        if row is None:
            self._new_key(HOT_WALLET_LABEL)
            return self.hot_wallet()
        return row.key_index, row.address

    def _keys(self) -> list[tuple[int, str, str]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(
                "SELECT key_index, address, label FROM wallet_keys WHERE currency = :c "
                "ORDER BY key_index"), {"c": self.code})]

    def new_deposit_address(self, label: str) -> str:
        if label == HOT_WALLET_LABEL:
            return self.hot_wallet()[1]
        return self._new_key(label)

    def validate_address(self, address: str) -> bool:
        if not isinstance(address, str) or ADDRESS.fullmatch(address) is None:
            return False
        body = address[2:]
        return body == body.lower() or body == body.upper() or is_checksum_address(address)

    # Chain state.

    def tip_height(self) -> int:
        return int(self.rpc.call("eth_blockNumber"), 16)

    def _amount(self, wei: int) -> Decimal:
        """Wei as an amount at our scale; dust below the scale stays in the wallet."""
        return Decimal(wei).scaleb(-WEI_DIGITS).quantize(Decimal(1).scaleb(-self.scale),
                                                           rounding=ROUND_DOWN)

    def scan_deposits(self, addresses: frozenset[str], from_height: int) -> list[ChainDeposit]:
        wanted = {address.lower(): address for address in addresses}
        tip = self.tip_height()
        found = []
        heights = list(range(max(from_height, 0), tip + 1))
        for start in range(0, len(heights), SCAN_BLOCKS_PER_BATCH):
            chunk = heights[start:start + SCAN_BLOCKS_PER_BATCH]
            blocks = self.rpc.batch([("eth_getBlockByNumber", (_hex(n), True)) for n in chunk])
            for height, block in zip(chunk, blocks):
                found += self._payments(block, wanted, height, tip - height + 1)
        pending = self.rpc.call("eth_getBlockByNumber", "pending", True)
        return found + self._payments(pending, wanted, None, 0)

    def _payments(self, block: dict | None, wanted: dict[str, str], height: int | None,
                  confirmations: int) -> list[ChainDeposit]:
        payments = []
        for tx in (block or {}).get("transactions", []):
            to = (tx.get("to") or "").lower()
            value = int(tx.get("value", "0x0"), 16)
            if to in wanted and value > 0 and self._amount(value) > 0:
                payments.append(ChainDeposit(
                    txid=tx["hash"], output_index=0, address=wanted[to],
                    amount=self._amount(value), confirmations=confirmations,
                    block_height=height))
        return payments

    def transaction_confirmations(self, txid: str) -> int:
        if TXID.fullmatch(txid) is None:
            return -1
        receipt = self.rpc.call("eth_getTransactionReceipt", txid)
        if receipt is None or receipt.get("blockNumber") is None:
            return 0 if self.rpc.call("eth_getTransactionByHash", txid) else \
                self._offered_again(txid)
        if int(receipt.get("status", "0x1"), 16) != 1:
            return -1                                # mined but reverted: paid nothing
        return self.tip_height() - int(receipt["blockNumber"], 16) + 1

    def _offered_again(self, txid: str) -> int:
        """A payment the node no longer knows, mined nowhere: a reorganisation took its
        block and the node did not keep it. If it is one of ours its stored bytes are
        broadcast again (0: waiting again); -1 when it is none of ours, or on the proof
        that it can never be mined (another transaction spent its nonce)."""
        with self.engine.connect() as conn:
            stored = conn.execute(text("SELECT nonce, raw FROM wallet_sends "
                                       "WHERE currency = :c AND txid = :t"),
                                  {"c": self.code, "t": txid}).first()
        if stored is None:
            return -1
        try:
            self._broadcast_stored(self.hot_wallet()[1], stored.nonce, stored.raw, txid)
        except PaymentRefused:
            return -1
        return 0

    def sent_fee(self, txid: str) -> Decimal:
        receipt = self.rpc.call("eth_getTransactionReceipt", txid)
        if receipt is None:
            return Decimal(0)
        wei = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
        return Decimal(wei).scaleb(-WEI_DIGITS)

    def wallet_balance(self) -> Decimal:
        addresses = [address for _, address, _ in self._keys()]
        balances = self.rpc.batch([("eth_getBalance", (a, "latest")) for a in addresses])
        return sum((Decimal(int(b, 16)).scaleb(-WEI_DIGITS) for b in balances), Decimal(0))

    # Sending.

    def _signed_transfer(self, key_index: int, to: str, wei: int, nonce: int,
                         gas_price: int) -> tuple[str, str]:
        if self._chain_id is None:
            self._chain_id = int(self.rpc.call("eth_chainId"), 16)
        signed = Account.sign_transaction(
            {"to": to_checksum_address(to), "value": wei, "gas": TRANSFER_GAS,
             "gasPrice": gas_price, "nonce": nonce, "chainId": self._chain_id, "data": b""},
            self._private_key(key_index))
        return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()

    def _broadcast(self, raw: str, txid: str) -> None:
        """Broadcast a sweep of a deposit address (a sweep pays nobody but us)."""
        try:
            self.rpc.call("eth_sendRawTransaction", raw)
        except RpcError as error:
            if self.rpc.call("eth_getTransactionByHash", txid) is None:
                raise TemporaryNodeError(f"{self.code} node refused transaction {txid}: "
                                         f"{error.message}") from error

    def send(self, address: str, amount: Decimal, withdrawal_id: str) -> str:
        check_scale(amount, self.scale)
        key_index, hot = self.hot_wallet()
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('wallet_sends:' || :c))"),
                         {"c": self.code})
            stored = conn.execute(text("SELECT nonce, raw, txid FROM wallet_sends "
                                       "WHERE currency = :c AND withdrawal_id = :w"),
                                  {"c": self.code, "w": withdrawal_id}).first()
            if stored is None:
                stored = self._sign_next(conn, key_index, hot, address, amount, withdrawal_id)
        nonce, raw, txid = stored
        self._broadcast_stored(hot, nonce, raw, txid)
        return txid

    def _sign_next(self, conn: Connection, key_index: int, hot: str, address: str, amount: Decimal,
                   withdrawal_id: str) -> tuple[int, str, str]:
        """Sign and store the payment at the next nonce; raises ``PaymentDeferred`` unsigned."""
        nonce = self._next_nonce(conn, hot)
        gas_price = int(self.rpc.call("eth_gasPrice"), 16)
        wei = _wei(amount)
        balance = int(self.rpc.call("eth_getBalance", hot, "pending"), 16)
        if balance < wei + gas_price * TRANSFER_GAS:
            raise WalletUnderfunded(f"the {self.code} hot wallet cannot pay {amount}")
        raw, txid = self._signed_transfer(key_index, address, wei, nonce, gas_price)
        conn.execute(text("INSERT INTO wallet_sends (currency, withdrawal_id, nonce, raw, txid) "
                          "VALUES (:c, :w, :n, :r, :t)"),
                     {"c": self.code, "w": withdrawal_id, "n": nonce, "r": raw, "t": txid})
        return nonce, raw, txid

    def _pending_nonce(self, hot: str) -> int:
        return int(self.rpc.call("eth_getTransactionCount", hot, "pending"), 16)

    def _next_nonce(self, conn: Connection, hot: str) -> int:
        """The node's pending nonce, once it knows every stored transaction (no gap)."""
        nonce = self._pending_nonce(hot)
        unknown = conn.execute(text(
            "SELECT nonce, raw, txid FROM wallet_sends WHERE currency = :c AND nonce >= :n "
            "ORDER BY nonce LIMIT :m"),
            {"c": self.code, "n": nonce, "m": STORED_REBROADCAST_MAX}).all()
        if not unknown:
            return nonce
        stuck = unknown[0]
        try:
            for stuck in unknown:
                self.rpc.call("eth_sendRawTransaction", stuck.raw)
            nonce = self._pending_nonce(hot)
        except CurrencyError as error:
            raise PaymentDeferred(f"{self.code} payments wait behind transaction {stuck.txid} "
                                  f"(nonce {stuck.nonce}), which the node does not take: "
                                  f"{error}") from error
        last = conn.execute(text("SELECT max(nonce) FROM wallet_sends WHERE currency = :c"),
                            {"c": self.code}).scalar_one()
        if last >= nonce:
            raise PaymentDeferred(f"{self.code} payments wait until the node knows the stored "
                                  f"transaction of nonce {nonce}")
        return nonce

    def _broadcast_stored(self, hot: str, nonce: int, raw: str, txid: str) -> None:
        """Broadcast a stored payment; ``PaymentRefused`` only on the proof it is dead."""
        try:
            self.rpc.call("eth_sendRawTransaction", raw)
            return
        except NodeError as error:    # a TemporaryNodeError goes up: retried, still held
            refused = error
        if self.rpc.call("eth_getTransactionByHash", txid) is not None:
            return                        # in the node's pool or mined: sent before, or by others
        if self._nonce_spent_by_another(hot, nonce, txid):
            raise PaymentRefused(f"{self.code} transaction {txid} can never be mined: another "
                                 f"transaction spent its nonce {nonce}") from refused
        raise NodeError(f"{self.code} transaction {txid} (nonce {nonce}) is signed and may "
                        f"still be mined, but the node does not take it: {refused}") from refused

    def _nonce_spent_by_another(self, hot: str, nonce: int, txid: str) -> bool:
        settled = self.tip_height() - max(self.confirmations, 1) + 1
        if settled < 0:
            return False
        spent = int(self.rpc.call("eth_getTransactionCount", hot, _hex(settled)), 16)
        return spent > nonce and self.rpc.call("eth_getTransactionReceipt", txid) is None

    def find_sent(self, withdrawal_id: str) -> str | None:
        with self.engine.connect() as conn:
            txid = conn.execute(text("SELECT txid FROM wallet_sends "
                                     "WHERE currency = :c AND withdrawal_id = :w"),
                                {"c": self.code, "w": withdrawal_id}).scalar()
        if txid is None or self.rpc.call("eth_getTransactionByHash", txid) is None:
            return None           # never signed, or signed but not broadcast: send (again)
        return txid

    def consolidate(self) -> None:
        """Sweep into the hot wallet what each deposit address held ``confirmations``
        deep, as its deposits must be to be credited: a deposit not that deep yet, which
        a reorganisation may still take out of the chain, is not spent before it counts."""
        _, hot = self.hot_wallet()
        keys = [(index, address) for index, address, label in self._keys()
                if label != HOT_WALLET_LABEL]
        settled = self.tip_height() - max(self.confirmations, 1) + 1
        if not keys or settled < 0:
            return
        gas_price = int(self.rpc.call("eth_gasPrice"), 16)
        fee = gas_price * TRANSFER_GAS
        deep = self.rpc.batch([("eth_getBalance", (a, _hex(settled))) for _, a in keys])
        for (index, address), balance in zip(keys, deep):
            wei = int(balance, 16)
            if wei <= fee * 10:                   # not worth its gas yet
                continue
            nonce, nonce_then = (int(n, 16) for n in self.rpc.batch([
                ("eth_getTransactionCount", (address, "pending")),
                ("eth_getTransactionCount", (address, _hex(settled)))]))
            # Only sweeps leave a deposit address. One pending, or mined since the block
            # ``settled`` (whose balance it spent), must be that deep first.
            if nonce != nonce_then:
                continue
            raw, txid = self._signed_transfer(index, hot, wei - fee, nonce, gas_price)
            self._broadcast(raw, txid)
