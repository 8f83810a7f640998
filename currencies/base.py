"""The interface every currency driver implements: one small class per chain family."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine


@dataclass(frozen=True)
class ChainDeposit:
    """A payment to one of our deposit addresses, as the chain sees it now."""

    txid: str
    output_index: int          # output (UTXO chains) or log index (account chains)
    address: str
    amount: Decimal
    confirmations: int         # 0 while in the mempool; 1 once in a block
    block_height: int | None   # None while in the mempool


@dataclass(frozen=True)
class CurrencySettings:
    """What a driver is told about its currency: the row in ``currencies`` and its node."""

    code: str
    scale: int
    confirmations: int         # needed before a deposit is credited
    node_url: str | None       # from NODE_URL_<CODE>; None for chains without a node
    wallet_seed: bytes | None = field(default=None, repr=False)   # for drivers holding keys


class CurrencyDriver(abc.ABC):
    """One currency on one node. Amounts are exact Decimals at the currency's scale."""

    def __init__(self, currency: CurrencySettings, engine: Engine) -> None:
        self.code = currency.code
        self.scale = currency.scale
        self.confirmations = currency.confirmations
        self.engine = engine

    @abc.abstractmethod
    def new_deposit_address(self, label: str) -> str:
        """A fresh address whose payments are credited to ``label`` (a user's reference)."""

    @abc.abstractmethod
    def tip_height(self) -> int:
        """The height of the node's best block."""

    @abc.abstractmethod
    def scan_deposits(self, addresses: frozenset[str], from_height: int) -> list[ChainDeposit]:
        """Payments to ``addresses`` in blocks from ``from_height`` on, and in the mempool."""

    @abc.abstractmethod
    def send(self, address: str, amount: Decimal, withdrawal_id: str) -> str:
        """Pay ``amount`` to ``address``, recording ``withdrawal_id`` with the node; a txid.

        Raises ``PaymentDeferred`` only when nothing was signed or sent for
        ``withdrawal_id``, and ``PaymentRefused`` only when the chain or the wallet proves
        that no payment for it was or ever can be made: the caller returns the funds on
        that error alone. After any other error the payment may be out, or may still go."""

    @abc.abstractmethod
    def find_sent(self, withdrawal_id: str) -> str | None:
        """The txid of an earlier ``send`` for ``withdrawal_id``, if the node knows one."""

    @abc.abstractmethod
    def sent_fee(self, txid: str) -> Decimal:
        """The network fee the wallet paid for a transaction it sent."""

    @abc.abstractmethod
    def transaction_confirmations(self, txid: str) -> int:
        """Confirmations of a transaction we sent; -1 if the chain no longer has it."""

    @abc.abstractmethod
    def validate_address(self, address: str) -> bool:
        """True if ``address`` is well formed and of this currency's network."""

    @abc.abstractmethod
    def wallet_balance(self) -> Decimal:
        """What the node's wallet holds for us, confirmed."""

    def consolidate(self) -> None:
        """Move deposits into the wallet that sends (account chains); nothing by default."""
