"""Publishing liability snapshots and handing each user the proof of their balance."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Engine, text

from ledger import liabilities
from ledger.scales import scale as scale_of

_BALANCES = text("""
    SELECT owner_user_id, sum(balance) AS balance FROM accounts
     WHERE currency = :c AND owner_user_id IS NOT NULL
     GROUP BY owner_user_id HAVING sum(balance) > 0 ORDER BY owner_user_id""")
_LATEST = text("SELECT * FROM liability_snapshots WHERE currency = :c ORDER BY id DESC LIMIT 1")



def publish(engine: Engine, currency: str) -> dict[str, Any]:
    """Snapshot every user's balance in ``currency`` (one consistent read) and its root."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        scale = scale_of(conn, currency)
        balances = list(conn.execute(_BALANCES, {"c": currency}).all())
        # A random order per snapshot: in id order, the sibling whose sum a user's path
        # shows would be the user with the neighbouring id.
        secrets.SystemRandom().shuffle(balances)
        salts = [liabilities.new_salt() for _ in balances]
        leaves = [liabilities.user_leaf(user, salt, balance, scale)
                  for (user, balance), salt in zip(balances, salts)]
        root = liabilities.levels(leaves, scale)[-1][0]
        snapshot_id = conn.execute(text(
            "INSERT INTO liability_snapshots (currency, root_hash, total, users, leaf_scheme) "
            "VALUES (:c, :h, :t, :n, :scheme) RETURNING id"),
            {"c": currency, "h": root.hash, "t": root.sum, "n": len(balances),
             "scheme": liabilities.LEAF_SCHEME}).scalar_one()
        if balances:
            conn.execute(text(
                "INSERT INTO liability_leaves "
                "(snapshot_id, position, user_id, balance, salt, leaf_hash) "
                "SELECT :s, * FROM unnest(CAST(:p AS integer[]), CAST(:u AS bigint[]), "
                "CAST(:b AS numeric[]), CAST(:salts AS text[]), CAST(:hashes AS text[]))"),
                {"s": snapshot_id, "p": list(range(len(balances))),
                 "u": [u for u, _ in balances], "b": [b for _, b in balances],
                 "salts": salts, "hashes": [leaf.hash for leaf in leaves]})
        conn.commit()
    return {"snapshot_id": snapshot_id, "currency": currency, "root_hash": root.hash,
            "total": f"{root.sum:.{scale}f}", "users": len(balances)}


def _described(row: Any, scale: int) -> dict[str, Any]:
    return {"snapshot_id": row.id, "currency": row.currency, "root_hash": row.root_hash,
            "total": f"{row.total:.{scale}f}", "users": row.users,
            "created_at": row.created_at.isoformat(), "leaf_scheme": row.leaf_scheme}


def latest(engine: Engine, currency: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        scale = scale_of(conn, currency)
        row = conn.execute(_LATEST, {"c": currency}).first()
    return None if row is None else _described(row, scale)


def user_proof(engine: Engine, currency: str, user_id: int, secret_key: bytes
               ) -> dict[str, Any] | None:
    """The proof of ``user_id``'s balance in the latest snapshot, or None if not in it.

    ``secret_key`` is needed only for a snapshot of scheme 1 (see ``ledger.liabilities``)."""
    with engine.connect() as conn:
        scale = scale_of(conn, currency)
        snapshot = conn.execute(_LATEST, {"c": currency}).first()
        if snapshot is None:
            return None
        rows = conn.execute(text(
            "SELECT user_id, balance, salt, leaf_hash FROM liability_leaves "
            "WHERE snapshot_id = :s ORDER BY position"), {"s": snapshot.id}).all()
    positions = [i for i, row in enumerate(rows) if row.user_id == user_id]
    if not positions:
        return None
    index = positions[0]
    mine = rows[index]
    found = {**_described(snapshot, scale), "scale": scale,
             "balance": f"{mine.balance:.{scale}f}"}
    if snapshot.leaf_scheme == 1:
        leaves = [liabilities.leaf(liabilities.leaf_id(secret_key, snapshot.salt, row.user_id),
                                   row.balance, scale) for row in rows]
        found["leaf_id"] = liabilities.leaf_id(secret_key, snapshot.salt, user_id)
    else:
        # The database derived each stored hash from its row (migration 0021).
        leaves = [liabilities.Node(row.leaf_hash, row.balance) for row in rows]
        found.update(user_id=str(user_id), salt=mine.salt, leaf_hash=mine.leaf_hash)
    found["path"] = liabilities.proof(liabilities.levels(leaves, scale), index)
    return found
