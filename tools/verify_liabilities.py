#!/usr/bin/env python3
"""Verify a proof of liabilities on your own, with nothing but Python's standard library.

    python3 tools/verify_liabilities.py proof.json

``proof.json`` is what ``GET /v1/me/liabilities?currency=C`` returned. The script
recomputes your leaf from your balance, climbs the path to the root, checks that
no sum is negative and that the root and total are the published ones, and says
so. Exit status 0 when the proof holds, 1 when it does not.
"""

import hashlib
import json
import sys
from decimal import Decimal


def text(amount: Decimal, scale: int) -> str:
    return f"{amount:.{scale}f}"


def verify(proof: dict) -> tuple[bool, str]:
    scale = int(proof["scale"])
    balance = Decimal(proof["balance"])
    if balance < 0:
        return False, "your balance is negative"
    current_hash = hashlib.sha256(
        f"leaf|{proof['leaf_id']}|{text(balance, scale)}".encode()).hexdigest()
    current_sum = balance
    for step in proof["path"]:
        sibling_sum = Decimal(step["sum"])
        if sibling_sum < 0:
            return False, "a sum on the path is negative"
        if step["side"] == "left":
            left, right = (step["hash"], sibling_sum), (current_hash, current_sum)
        else:
            left, right = (current_hash, current_sum), (step["hash"], sibling_sum)
        current_hash = hashlib.sha256(
            f"node|{left[0]}|{text(left[1], scale)}|{right[0]}|{text(right[1], scale)}"
            .encode()).hexdigest()
        current_sum = left[1] + right[1]
    if current_hash != proof["root_hash"]:
        return False, "the path does not lead to the published root"
    if text(current_sum, scale) != proof["total"]:
        return False, "the root's sum is not the published total"
    return True, (f"your balance {proof['balance']} {proof['currency']} is included in "
                  f"snapshot {proof['snapshot_id']}, total {proof['total']}")


def main(argv: list[str]) -> int:
    with open(argv[1]) as file:
        holds, message = verify(json.load(file))
    print(("OK: " if holds else "FAILED: ") + message)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
