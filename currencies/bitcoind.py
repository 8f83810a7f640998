"""The bitcoind family (BTC, LTC, DOGE, BCH, BSV...): one node wallet per currency.

Configured by a currency row with driver ``bitcoind`` and ``NODE_URL_<CODE>``
(``http://user:password@host:port``, or ``.../wallet/NAME`` on multi-wallet nodes).
Amounts come from the node as JSON numbers parsed straight into Decimal and go to
it as decimal strings: no float ever holds money.

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
            return self.rpc.call("sendtoaddress", address, amount, withdrawal_id)
        except RpcError as error:
            if error.code == RPC_WALLET_INSUFFICIENT_FUNDS:
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
        return self.rpc.call("getbalance")
