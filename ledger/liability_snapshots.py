"""Publishing liability snapshots and handing each user the proof of their balance."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Engine, text

from ledger import liabilities
from ledger.errors import UnknownCurrency

_BALANCES = text("""
    SELECT owner_user_id, sum(balance) AS balance FROM accounts
     WHERE currency = :c AND owner_user_id IS NOT NULL
     GROUP BY owner_user_id HAVING sum(balance) > 0 ORDER BY owner_user_id""")


def _scale(conn, currency: str) -> int:  # type: ignore[no-untyped-def]
    scale = conn.execute(text("SELECT scale FROM currencies WHERE code = :c"),
                         {"c": currency}).scalar()
    if scale is None:
        raise UnknownCurrency(f"unknown currency {currency!r}", field="currency")
    return scale


def publish(engine: Engine, currency: str, secret_key: bytes) -> dict[str, Any]:
    """Snapshot every user's balance in ``currency`` (one consistent read) and its root."""
    salt = secrets.token_hex(16)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        scale = _scale(conn, currency)
        balances = conn.execute(_BALANCES, {"c": currency}).all()
        leaves = [liabilities.leaf(liabilities.leaf_id(secret_key, salt, user), balance, scale)
                  for user, balance in balances]
        root = liabilities.levels(leaves, scale)[-1][0]
        snapshot_id = conn.execute(text(
            "INSERT INTO liability_snapshots (currency, salt, root_hash, total, users) "
            "VALUES (:c, :s, :h, :t, :n) RETURNING id"),
            {"c": currency, "s": salt, "h": root.hash, "t": root.sum,
             "n": len(balances)}).scalar_one()
        if balances:
            conn.execute(text(
                "INSERT INTO liability_leaves (snapshot_id, position, user_id, balance) "
                "SELECT :s, * FROM unnest(CAST(:p AS integer[]), CAST(:u AS bigint[]), "
                "CAST(:b AS numeric[]))"),
                {"s": snapshot_id, "p": list(range(len(balances))),
                 "u": [u for u, _ in balances], "b": [b for _, b in balances]})
        conn.commit()
    return {"snapshot_id": snapshot_id, "currency": currency, "root_hash": root.hash,
            "total": f"{root.sum:.{scale}f}", "users": len(balances)}


def latest(engine: Engine, currency: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        scale = _scale(conn, currency)
        row = conn.execute(text(
            "SELECT * FROM liability_snapshots WHERE currency = :c ORDER BY id DESC LIMIT 1"),
            {"c": currency}).first()
    if row is None:
        return None
    return {"snapshot_id": row.id, "currency": currency, "root_hash": row.root_hash,
            "total": f"{row.total:.{scale}f}", "users": row.users,
            "created_at": row.created_at.isoformat(), "salt": row.salt}


def user_proof(engine: Engine, currency: str, user_id: int, secret_key: bytes
               ) -> dict[str, Any] | None:
    """The proof of ``user_id``'s balance in the latest snapshot, or None if not in it."""
    published = latest(engine, currency)
    if published is None:
        return None
    snapshot_id, salt = published["snapshot_id"], published.pop("salt")
    with engine.connect() as conn:
        scale = _scale(conn, currency)
        rows = conn.execute(text(
            "SELECT user_id, balance FROM liability_leaves WHERE snapshot_id = :s "
            "ORDER BY position"), {"s": snapshot_id}).all()
    positions = [i for i, (user, _) in enumerate(rows) if user == user_id]
    if not positions:
        return None
    leaves = [liabilities.leaf(liabilities.leaf_id(secret_key, salt, user), balance, scale)
              for user, balance in rows]
    tree = liabilities.levels(leaves, scale)
    index = positions[0]
    return {**published, "scale": scale,
            "leaf_id": liabilities.leaf_id(secret_key, salt, user_id),
            "balance": f"{rows[index][1]:.{scale}f}",
            "path": liabilities.proof(tree, index)}
