#!/usr/bin/env python3
"""Verify a proof of liabilities on your own, with nothing but Python's standard library.

    python3 tools/verify_liabilities.py proof.json [--user-id ID] [--balance AMOUNT]

``proof.json`` is what ``GET /v1/me/liabilities?currency=C`` returned. The script
recomputes your leaf from your user id (``GET /v1/me`` says it), the salt the proof
gives you and your balance:

    leaf = sha256("leaf2|" + user_id + "|" + salt + "|" + balance)

(the balance with exactly the currency's ``scale`` decimals), climbs the path to the
root with

    node = sha256("node|" + left_hash + "|" + left_sum + "|" + right_hash + "|" + right_sum)

checks that no sum is negative and that the root and total are the published ones, and
says so. Your id in the leaf means no other user can be shown your leaf; give
``--user-id`` and ``--balance`` to check the proof against what you know rather than
against what it says. Exit status 0 when the proof holds, 1 when it does not.

A snapshot published before salts (``leaf_scheme`` 1) has a leaf under a ``leaf_id``
that only the server can compute: its inclusion is checked, but it cannot be tied to
your user id (``--user-id`` fails it).
"""

import argparse
import hashlib
import json
import re
import sys
from decimal import Context, Decimal, Inexact, InvalidOperation

# Wide enough for any sum of balances (30 integer digits and 18 decimals each), and
# raising rather than rounding: the default context's 28 digits would round a large total.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation])

_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
_SALT = re.compile(r"[0-9a-f]{32}")
_HASH = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """Raised when the proof does not hold; the message says why."""


def text(amount: Decimal, scale: int) -> str:
    return f"{amount:.{scale}f}"


def sha256(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


def amount(value: object, what: str, scale: int) -> Decimal:
    """A non-negative amount exact at ``scale``: formatting one with more decimals would
    round it, and a leaf could then stand for another balance than the one stated."""
    try:
        found = Decimal(str(value))
        if not found.is_finite():
            raise Refused(f"{what} is not a finite number")
        found.quantize(Decimal(1).scaleb(-scale), context=EXACT)   # Inexact if it would round
    except (InvalidOperation, Inexact):
        raise Refused(f"{what} is not a decimal number of at most {scale} decimals") from None
    if found < 0:
        raise Refused(f"{what} is negative")
    return found


def own_leaf(proof: dict, scale: int, balance: Decimal, user_id: str | None,
             legacy: bool) -> str:
    """Your leaf's hash, from your data; also checks what the proof claims of it. The
    scheme is never assumed: a proof that drops it could pass another user's leaf off."""
    if proof["leaf_scheme"] == 1:
        if user_id is not None or not legacy:
            raise Refused("this snapshot predates per-user salts: its leaf cannot be tied to "
                          "your user id; ask for a newer snapshot (--legacy checks only that "
                          "a leaf of your balance is included)")
        return sha256(f"leaf|{proof['leaf_id']}|{text(balance, scale)}")
    if proof["leaf_scheme"] != 2:
        raise Refused(f"leaf scheme {proof['leaf_scheme']!r} is unknown to this verifier")
    if user_id is None:
        raise Refused("give --user-id (your id, as GET /v1/me gives it): without it the "
                      "proof could be another user's")
    claimed = str(proof["user_id"])
    if claimed != user_id:
        raise Refused(f"the proof is for user {claimed}, not for you ({user_id})")
    if not _USER_ID.fullmatch(claimed):
        raise Refused("the proof's user_id is not a user id")
    if not _SALT.fullmatch(str(proof["salt"])):
        raise Refused("the proof's salt is not 32 lowercase hex digits")
    leaf = sha256(f"leaf2|{claimed}|{proof['salt']}|{text(balance, scale)}")
    if "leaf_hash" in proof and proof["leaf_hash"] != leaf:
        raise Refused("the proof's leaf_hash is not the leaf your id, salt and balance give")
    return leaf


def climb(leaf: str, balance: Decimal, path: list, scale: int) -> tuple[str, Decimal]:
    current_hash, current_sum = leaf, balance
    for step in path:
        sibling_sum = amount(step["sum"], "a sum on the path", scale)
        if not _HASH.fullmatch(str(step["hash"])) or step["side"] not in ("left", "right"):
            raise Refused("a step of the path is malformed")
        if step["side"] == "left":
            left, right = (step["hash"], sibling_sum), (current_hash, current_sum)
        else:
            left, right = (current_hash, current_sum), (step["hash"], sibling_sum)
        current_hash = sha256(f"node|{left[0]}|{text(left[1], scale)}|{right[0]}|"
                              f"{text(right[1], scale)}")
        current_sum = EXACT.add(left[1], right[1])
    return current_hash, current_sum


def verify(proof: dict, user_id: str | None = None, balance: str | None = None,
           legacy: bool = False) -> tuple[bool, str]:
    try:
        scale = int(proof["scale"])
        stated = amount(proof["balance"], "your balance", scale)
        if balance is not None and amount(balance, "--balance", scale) != stated:
            raise Refused(f"the proof states your balance as {proof['balance']}, "
                          f"not {balance}")
        leaf = own_leaf(proof, scale, stated, user_id, legacy)
        root_hash, total = climb(leaf, stated, proof["path"], scale)
        if root_hash != proof["root_hash"]:
            raise Refused("the path does not lead to the published root")
        if text(total, scale) != proof["total"]:
            raise Refused("the root's sum is not the published total")
    except Refused as refused:
        return False, str(refused)
    except (KeyError, TypeError, ValueError) as error:
        return False, f"the proof is malformed ({error!r})"
    if proof["leaf_scheme"] == 1:
        whose = "a leaf (this snapshot predates salts: it cannot be tied to your user id)"
    else:
        whose = f"the leaf of user {proof['user_id']}"
    return True, (f"{whose} with balance {text(stated, scale)} {proof['currency']} is "
                  f"included in snapshot {proof['snapshot_id']}, total {proof['total']}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="verify_liabilities.py",
                                     description="verify a proof of liabilities")
    parser.add_argument("proof", help="the JSON of GET /v1/me/liabilities?currency=C")
    parser.add_argument("--user-id", help="your user id, as GET /v1/me gives it")
    parser.add_argument("--balance", help="your balance at the snapshot, as you know it")
    parser.add_argument("--legacy", action="store_true",
                        help="accept a snapshot from before per-user salts, whose leaf cannot "
                             "be tied to you")
    options = parser.parse_args(argv[1:])
    with open(options.proof) as file:
        holds, message = verify(json.load(file), options.user_id, options.balance,
                                options.legacy)
    print(("OK: " if holds else "FAILED: ") + message)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
