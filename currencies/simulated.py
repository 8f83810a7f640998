"""A simulated chain kept in PostgreSQL, for demos and tests: blocks, mempool, wallet.

It behaves like a node seen through the driver interface, and adds what a test
or a demo needs to play the outside world: ``pay_to`` (someone pays us) and
``mine`` (a block confirms the mempool).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from decimal import Decimal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from currencies.base import ChainDeposit, CurrencyDriver, CurrencySettings
from currencies.errors import TemporaryNodeError, WalletUnderfunded
from money import check_scale

def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:6]


class SimulatedChain(CurrencyDriver):
    """One simulated currency. Addresses look like ``simbtc1<32 hex><6 hex checksum>``."""

    def __init__(self, currency: CurrencySettings, engine: Engine) -> None:
        super().__init__(currency, engine)
        self.prefix = f"sim{self.code.lower()}1"
        self._address_pattern = re.compile(re.escape(self.prefix) + r"[0-9a-f]{32}[0-9a-f]{6}")

    def _fresh_address(self) -> str:
        body = self.prefix + secrets.token_hex(16)
        return body + _checksum(body)

    def new_deposit_address(self, label: str) -> str:
        address = self._fresh_address()
        self._execute("INSERT INTO simulated_chain_addresses (address, currency, label) "
                      "VALUES (:a, :c, :l)", a=address, c=self.code, l=label)
        return address

    def validate_address(self, address: str) -> bool:
        return (isinstance(address, str) and self._address_pattern.fullmatch(address) is not None
                and _checksum(address[:-6]) == address[-6:])

    def tip_height(self) -> int:
        return self._execute("SELECT height FROM simulated_chain_heights WHERE currency = :c",
                             c=self.code)[0][0]

    def scan_deposits(self, addresses: frozenset[str], from_height: int) -> list[ChainDeposit]:
        rows = self._execute("""
            SELECT t.txid, t.output_index, t.to_address, t.amount,
                   CASE WHEN t.block_height IS NULL THEN 0 ELSE h.height - t.block_height + 1 END,
                   t.block_height
              FROM simulated_chain_transactions t
              JOIN simulated_chain_heights h ON h.currency = t.currency
             WHERE t.currency = :c AND NOT t.outgoing AND t.to_address = ANY(:addresses)
               AND (t.block_height IS NULL OR t.block_height >= :from_height)
             ORDER BY t.created_at, t.txid""",
                             c=self.code, addresses=sorted(addresses), from_height=from_height)
        return [ChainDeposit(*row) for row in rows]

    def send(self, address: str, amount: Decimal, withdrawal_id: str) -> str:
        check_scale(amount, self.scale)
        if amount > self.wallet_balance():
            raise WalletUnderfunded(f"the {self.code} wallet holds less than {amount}")
        txid = hashlib.sha256(f"{self.code}:{withdrawal_id}".encode()).hexdigest()
        self._execute("""
            INSERT INTO simulated_chain_transactions
                   (txid, currency, to_address, amount, outgoing, label)
            VALUES (:t, :c, :a, :x, true, :l)""",
                      t=txid, c=self.code, a=address, x=amount, l=withdrawal_id)
        return txid

    def find_sent(self, withdrawal_id: str) -> str | None:
        rows = self._execute("SELECT txid FROM simulated_chain_transactions "
                             "WHERE currency = :c AND outgoing AND label = :l",
                             c=self.code, l=withdrawal_id)
        return rows[0][0] if rows else None

    def sent_fee(self, txid: str) -> Decimal:
        return Decimal(0)                 # simulated payments cost nothing to send

    def transaction_confirmations(self, txid: str) -> int:
        rows = self._execute("""
            SELECT CASE WHEN t.block_height IS NULL THEN 0 ELSE h.height - t.block_height + 1 END
              FROM simulated_chain_transactions t
              JOIN simulated_chain_heights h ON h.currency = t.currency
             WHERE t.currency = :c AND t.txid = :t LIMIT 1""", c=self.code, t=txid)
        return rows[0][0] if rows else -1

    def wallet_balance(self) -> Decimal:
        rows = self._execute("""
            SELECT coalesce(sum(CASE WHEN outgoing THEN -amount ELSE amount END), 0)
              FROM simulated_chain_transactions
             WHERE currency = :c AND (outgoing OR (block_height IS NOT NULL
                   AND to_address IN (SELECT address FROM simulated_chain_addresses
                                       WHERE currency = :c)))""", c=self.code)
        return rows[0][0]

    # The outside world's side, for demos and tests.

    def pay_to(self, address: str, amount: Decimal) -> str:
        """Someone outside pays ``amount`` to ``address``; the payment waits in the mempool."""
        check_scale(amount, self.scale)
        txid = secrets.token_hex(32)
        self._execute("INSERT INTO simulated_chain_transactions "
                      "(txid, currency, to_address, amount, outgoing) "
                      "VALUES (:t, :c, :a, :x, false)", t=txid, c=self.code, a=address, x=amount)
        return txid

    def mine(self, blocks: int = 1) -> int:
        """Add ``blocks`` blocks; the first confirms the whole mempool. Returns the height."""
        with self.engine.begin() as conn:
            height = conn.execute(text("""
                INSERT INTO simulated_chain_heights (currency, height) VALUES (:c, :n)
                ON CONFLICT (currency) DO UPDATE
                   SET height = simulated_chain_heights.height + :n
                RETURNING height"""), {"c": self.code, "n": blocks}).scalar_one()
            conn.execute(text("UPDATE simulated_chain_transactions SET block_height = :h "
                              "WHERE currency = :c AND block_height IS NULL"),
                         {"h": height - blocks + 1, "c": self.code})
        return height

    def fund_wallet(self, conn: Connection, amount: Decimal) -> None:
        """Demo faucet: a confirmed payment into our wallet, in the caller's transaction,
        so that what the faucet credits to a user is also in the wallet."""
        check_scale(amount, self.scale)
        conn.execute(text("INSERT INTO simulated_chain_heights (currency) VALUES (:c) "
                          "ON CONFLICT DO NOTHING"), {"c": self.code})
        conn.execute(text("""
            WITH address AS (
                INSERT INTO simulated_chain_addresses (address, currency, label)
                VALUES (:a, :c, 'faucet') RETURNING address)
            INSERT INTO simulated_chain_transactions
                   (txid, currency, to_address, amount, outgoing, block_height)
            SELECT :t, :c, address, :x, false,
                   (SELECT height FROM simulated_chain_heights WHERE currency = :c)
              FROM address"""),
                     {"a": self._fresh_address(), "c": self.code, "t": secrets.token_hex(32),
                      "x": amount})

    def rollback_to(self, height: int) -> None:
        """A reorganisation: blocks above ``height`` vanish, their payments return to the
        mempool, except ``dropped`` ones, which a conflicting payment replaced."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE simulated_chain_heights SET height = :h "
                              "WHERE currency = :c"), {"h": height, "c": self.code})
            conn.execute(text("UPDATE simulated_chain_transactions SET block_height = NULL "
                              "WHERE currency = :c AND block_height > :h"),
                         {"h": height, "c": self.code})

    def drop(self, txid: str) -> None:
        """A payment still in the mempool is double-spent away: it will never confirm."""
        self._execute("DELETE FROM simulated_chain_transactions "
                      "WHERE currency = :c AND txid = :t AND block_height IS NULL",
                      c=self.code, t=txid)

    def _execute(self, statement: str, **parameters: object) -> list[tuple]:
        try:
            with self.engine.begin() as conn:
                conn.execute(text("INSERT INTO simulated_chain_heights (currency) VALUES (:c) "
                                  "ON CONFLICT DO NOTHING"), {"c": self.code})
                result = conn.execute(text(statement), parameters)
                return [tuple(row) for row in result] if result.returns_rows else []
        except OperationalError as error:
            raise TemporaryNodeError(f"simulated {self.code} chain unreachable") from error
