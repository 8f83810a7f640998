"""Proof of liabilities: a Merkle sum tree over users' balances in one currency.

Each leaf commits to one user's balance (available + held) under an identifier
only that user can recompute from their proof; each node commits to its
children's hashes and to the sum of their balances, so the root commits to the
total the exchange owes. A user checks that their leaf is included and that no
sum on the way up is negative; anyone checks the total against the reserves.
The standalone verifier is ``tools/verify_liabilities.py``.

    leaf  = sha256("leaf|" + leaf_id + "|" + balance)
    node  = sha256("node|" + left_hash + "|" + left_sum + "|" + right_hash + "|" + right_sum)

Sums are plain decimal strings at the currency's scale. An odd node is paired
with an empty leaf of sum 0.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

from ledger.amounts import MONEY


@dataclass(frozen=True)
class Node:
    hash: str
    sum: Decimal


def leaf_id(secret_key: bytes, salt: str, user_id: int) -> str:
    """The leaf's identifier: stable for one snapshot (its salt), meaningless to others."""
    return hmac.new(secret_key, f"liabilities:{salt}:{user_id}".encode(),
                    hashlib.sha256).hexdigest()


def _text(amount: Decimal, scale: int) -> str:
    return f"{amount:.{scale}f}"


def leaf(identifier: str, balance: Decimal, scale: int) -> Node:
    digest = hashlib.sha256(f"leaf|{identifier}|{_text(balance, scale)}".encode()).hexdigest()
    return Node(digest, balance)


def parent(left: Node, right: Node, scale: int) -> Node:
    digest = hashlib.sha256(f"node|{left.hash}|{_text(left.sum, scale)}|{right.hash}|"
                            f"{_text(right.sum, scale)}".encode()).hexdigest()
    return Node(digest, MONEY.add(left.sum, right.sum))


EMPTY = Node("0" * 64, Decimal(0))


def levels(leaves: list[Node], scale: int) -> list[list[Node]]:
    """Every level of the tree, leaves first, root last."""
    tree = [leaves or [EMPTY]]
    while len(tree[-1]) > 1:
        below = tree[-1]
        if len(below) % 2:
            below = below + [EMPTY]
        tree.append([parent(below[i], below[i + 1], scale) for i in range(0, len(below), 2)])
    return tree


def proof(tree: list[list[Node]], index: int) -> list[dict[str, str]]:
    """The siblings from leaf ``index`` up to the root, each with its side."""
    path = []
    for level in tree[:-1]:
        sibling_index = index ^ 1
        sibling = level[sibling_index] if sibling_index < len(level) else EMPTY
        path.append({"side": "left" if sibling_index < index else "right",
                     "hash": sibling.hash, "sum": f"{sibling.sum:f}"})
        index //= 2
    return path
