"""The bitcoind family (BTC, LTC, DOGE, BCH, BSV...): one node wallet per currency.

Configured by a currency row with driver ``bitcoind`` and ``NODE_URL_<CODE>``
(``http://user:password@host:port``, or ``.../wallet/NAME`` on multi-wallet nodes).
Amounts come from the node as JSON numbers parsed straight into Decimal and go to
it as decimal strings: no float ever holds money.

A send spends only coins that cannot be undone: our own change, and coins paid to us
from outside once they are as deep as a deposit must be to count (the others are
locked, ``lockunspent``, before each send). A payment spending a shallower coin would
fall with it if a reorganisation dropped or replaced the payment that made the coin,
and until then the node counts its change as untrusted: the wallet check would see a
shortfall that is not one. For the same reason our unconfirmed payments that the
node's pool dropped are offered to it again before each send and each wallet check.

A send is ``sendtoaddress`` with the withdrawal's id as the wallet comment: the
node stores it with the transaction in the same step that broadcasts it, so a
retry that finds the comment in the wallet knows the payment exists. A payment is
refused (its funds go back) only when the node answered the send with an error and
its wallet then lists nothing under the comment; an HTTP 401/403 or a lookup that
fails proves nothing, and leaves the withdrawal to an operator.
"""

from __future__ import annotations

from decimal import Decimal

from currencies.base import ChainDeposit, CurrencyDriver, CurrencySettings
from currencies.errors import NodeError, PaymentRefused, WalletUnderfunded
from currencies.jsonrpc import JsonRpc, RpcError
from money import check_scale

RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_WALLET_ERROR = -4
RPC_WALLET_INSUFFICIENT_FUNDS = -6
SENDS_PAGE = 500


class BitcoindWallet(CurrencyDriver):
    def __init__(self, currency: CurrencySettings, engine) -> None:
        super().__init__(currency, engine)
        if not currency.node_url:
            raise NodeError(f"{currency.code} needs NODE_URL_{currency.code} (its bitcoind)")
        self.rpc = JsonRpc(currency.node_url)

    def new_deposit_address(self, label: str) -> str:
        return self.rpc.call("getnewaddress")

    def validate_address(self, address: str) -> bool:
        if not isinstance(address, str) or not 20 <= len(address) <= 100 \
                or not address.isalnum():
            return False
        return bool(self.rpc.call("validateaddress", address).get("isvalid"))

    def tip_height(self) -> int:
        return int(self.rpc.call("getblockcount"))

    def scan_deposits(self, addresses: frozenset[str], from_height: int) -> list[ChainDeposit]:
        since = "" if from_height <= 0 else self.rpc.call("getblockhash", from_height - 1)
        ours = [tx for tx in self.rpc.call("listsinceblock", since, 1)["transactions"]
                if tx["category"] == "receive" and tx.get("address") in addresses
                and int(tx["confirmations"]) >= 0]    # negative: conflicted, never ours
        blocks = sorted({tx["blockhash"] for tx in ours if tx.get("blockhash")})
        headers = self.rpc.batch([("getblockheader", (block,)) for block in blocks])
        heights = {block: int(header["height"]) for block, header in zip(blocks, headers)}
        return [ChainDeposit(txid=tx["txid"], output_index=int(tx["vout"]),
                             address=tx["address"], amount=tx["amount"],
                             confirmations=int(tx["confirmations"]),
                             block_height=heights.get(tx.get("blockhash")))
                for tx in ours]

    def send(self, address: str, amount: Decimal, withdrawal_id: str) -> str:
        check_scale(amount, self.scale)
        try:
            self._offer_own_payments_again()
            self._lock_shallow_coins()
            return self.rpc.call("sendtoaddress", address, amount, withdrawal_id)
        except RpcError as error:
            if _insufficient_funds(error):
                raise WalletUnderfunded(f"the {self.code} wallet cannot pay {amount}") from error
            refused = error
        # The node itself answered, refusing (an HTTP 401/403 is no answer of the wallet's,
        # and is left to an operator). The wallet holds the only keys and stores every
        # payment it makes under its comment, even one it then reports it could not
        # broadcast: no payment under the comment is proof that none was made.
        txid = self.find_sent(withdrawal_id)
        if txid is not None:
            return txid
        raise PaymentRefused(f"the {self.code} node refused the payment: "
                             f"{refused.message}") from refused

    def _lock_shallow_coins(self) -> None:
        """Lock every coin paid to us from outside that is not yet ``confirmations`` deep,
        and only those. A lock lives in the node's memory, and a locked coin is listed no
        more: all are unlocked, listed and locked again before every send (which the
        withdrawal's send lock serialises)."""
        self.rpc.call("lockunspent", True)
        if self.confirmations <= 1:
            return
        shallow = [{"txid": coin["txid"], "vout": coin["vout"]}
                   for coin in self.rpc.call("listunspent", 0, self.confirmations - 1)
                   if not self._made_by_us(coin["txid"])]
        if shallow:
            self.rpc.call("lockunspent", False, shallow)

    def _made_by_us(self, txid: str) -> bool:
        """A transaction of our wallet's own (it spent our coins): its change is ours to
        spend at once, its inputs having been spendable."""
        return any(detail["category"] == "send"
                   for detail in self.rpc.call("gettransaction", txid)["details"])

    def find_sent(self, withdrawal_id: str) -> str | None:
        skip = 0
        while True:
            page = self.rpc.call("listtransactions", "*", SENDS_PAGE, skip)
            for tx in page:
                if tx.get("category") == "send" and tx.get("comment") == withdrawal_id:
                    return tx["txid"]
            if len(page) < SENDS_PAGE:
                return None
            skip += SENDS_PAGE

    def sent_fee(self, txid: str) -> Decimal:
        return -self.rpc.call("gettransaction", txid).get("fee", Decimal(0))

    def transaction_confirmations(self, txid: str) -> int:
        if len(txid) != 64 or not all(c in "0123456789abcdef" for c in txid):
            return -1
        try:
            confirmations = int(self.rpc.call("gettransaction", txid)["confirmations"])
        except RpcError as error:
            if error.code == RPC_INVALID_ADDRESS_OR_KEY:
                return -1
            raise
        return max(confirmations, -1)

    def wallet_balance(self) -> Decimal:
        self._offer_own_payments_again()
        return self.rpc.call("getbalance")

    def _offer_own_payments_again(self) -> None:
        """Our unconfirmed payments that the node's pool no longer holds, offered to it
        again (parents first). Nodes of this family drop their pool's transactions when
        a reorganisation disconnects a block; the wallet then counts their change as
        untrusted, and leaves them unsent until it rebroadcasts at random."""
        tip = self.rpc.call("getblockhash", self.tip_height())
        waiting = {tx["txid"] for tx in self.rpc.call("listsinceblock", tip)["transactions"]
                   if tx["category"] == "send" and int(tx["confirmations"]) == 0}
        missing = sorted(waiting - set(self.rpc.call("getrawmempool")))
        while missing:
            refused = []
            for txid in missing:
                try:
                    self.rpc.call("sendrawtransaction",
                                  self.rpc.call("gettransaction", txid)["hex"])
                except RpcError:
                    refused.append(txid)      # its parent first, or it conflicts
            if len(refused) == len(missing):
                return
            missing = refused


def _insufficient_funds(error: RpcError) -> bool:
    """The wallet cannot pay, and made nothing: -6 when the balance is below the amount;
    -4 "Insufficient funds" when the coins it may spend (unlocked) cannot pay the
    amount and its fee."""
    return error.code == RPC_WALLET_INSUFFICIENT_FUNDS or (
        error.code == RPC_WALLET_ERROR and error.message.lower().startswith("insufficient funds"))
