"""Proof of liabilities: a Merkle sum tree over users' balances in one currency.

Each leaf commits to one user's balance (available + held) under their user id and a
salt of their own (16 random bytes, new for each user in each snapshot, handed only to
that user with their proof), so a user recomputes their leaf from their own data and no
two users can be shown one leaf. Each node commits to its children's hashes and to the
sum of their balances, so the root commits to the total the exchange owes. A user checks
that their leaf is included and that no sum on the way up is negative; anyone checks the
total against the reserves. The standalone verifier is ``tools/verify_liabilities.py``.

    leaf  = sha256("leaf2|" + user_id + "|" + salt + "|" + balance)
    node  = sha256("node|" + left_hash + "|" + left_sum + "|" + right_hash + "|" + right_sum)

Sums are plain decimal strings at the currency's scale, the user id in decimal digits,
the salt in 32 lowercase hex digits. An odd node is paired with an empty leaf of sum 0.
Leaves are in a random order of each snapshot's own, so a sibling's sum on a path does
not tell whose it is.

Snapshots published before salts (``leaf_scheme`` 1) have
``leaf = sha256("leaf|" + leaf_id + "|" + balance)``, with ``leaf_id`` an HMAC under the
server's key that the user cannot recompute; they are still served and verified so.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from decimal import Decimal

from money import MONEY


@dataclass(frozen=True)
class Node:
    hash: str
    sum: Decimal


SALT_BYTES = 16
LEAF_SCHEME = 2


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def user_leaf(user_id: int, salt: str, balance: Decimal, scale: int) -> Node:
    """The leaf a user recomputes from their id, their salt and their balance."""
    digest = hashlib.sha256(f"leaf2|{user_id}|{salt}|{_text(balance, scale)}".encode())
    return Node(digest.hexdigest(), balance)


def leaf_id(secret_key: bytes, salt: str, user_id: int) -> str:
    """Scheme 1's leaf identifier: stable for one snapshot (its salt), meaningless to others."""
    return hmac.new(secret_key, f"liabilities:{salt}:{user_id}".encode(),
                    hashlib.sha256).hexdigest()


def _text(amount: Decimal, scale: int) -> str:
    return f"{amount:.{scale}f}"


def leaf(identifier: str, balance: Decimal, scale: int) -> Node:
    """Scheme 1's leaf, under a ``leaf_id``."""
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
