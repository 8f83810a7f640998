"""The interface every currency driver implements: one small class per chain family."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ChainDeposit:
    """A payment to one of our deposit addresses, as the chain sees it now."""

    txid: str
    output_index: int          # output (UTXO chains) or log index (account chains)
    address: str
    amount: Decimal
    confirmations: int         # 0 while in the mempool; 1 once in a block


class CurrencyDriver(abc.ABC):
    """One currency on one node. Amounts are exact Decimals at the currency's scale."""

    def __init__(self, code: str, scale: int, confirmations: int) -> None:
        self.code = code
        self.scale = scale
        self.confirmations = confirmations    # needed before a deposit is credited

    @abc.abstractmethod
    def new_deposit_address(self, label: str) -> str:
        """A fresh address whose payments are credited to ``label`` (a user's reference)."""

    @abc.abstractmethod
    def scan_deposits(self, addresses: frozenset[str]) -> list[ChainDeposit]:
        """Payments to ``addresses`` that are not yet deeply buried, with confirmations."""

    @abc.abstractmethod
    def send(self, address: str, amount: Decimal, withdrawal_id: str) -> str:
        """Pay ``amount`` to ``address``, recording ``withdrawal_id`` with the node; a txid."""

    @abc.abstractmethod
    def find_sent(self, withdrawal_id: str) -> str | None:
        """The txid of an earlier ``send`` for ``withdrawal_id``, if the node knows one."""

    @abc.abstractmethod
    def transaction_confirmations(self, txid: str) -> int:
        """Confirmations of a transaction we sent; -1 if the chain no longer has it."""

    @abc.abstractmethod
    def validate_address(self, address: str) -> bool:
        """True if ``address`` is well formed and of this currency's network."""

    @abc.abstractmethod
    def wallet_balance(self) -> Decimal:
        """What the node's wallet holds for us, confirmed."""
