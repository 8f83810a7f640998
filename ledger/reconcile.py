"""Re-derive every balance from the entries and check every invariant from scratch.

Runs in one read-only REPEATABLE READ snapshot, so transfers posted meanwhile
cannot make a consistent ledger look broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

DISCREPANCIES_MAX = 10_000

# Each check names the kind of discrepancy, then a query returning (subject, detail,
# currency); the currency is NULL where no single one is concerned.
CHECKS: tuple[tuple[str, str], ...] = (
    ("account_balance_differs", """
        SELECT 'account ' || a.id, 'running balance ' || a.balance || ' over '
               || a.entry_count || ' entries, entries sum to ' || coalesce(d.total, 0)
               || ' over ' || coalesce(d.n, 0), a.currency
          FROM accounts a
          LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n
                       FROM entries GROUP BY account_id) d ON d.account_id = a.id
         WHERE a.balance <> coalesce(d.total, 0) OR a.entry_count <> coalesce(d.n, 0)"""),
    ("transfer_unbalanced", """
        SELECT 'transfer ' || e.transfer_id, a.currency || ' entries sum to ' || sum(e.amount),
               a.currency
          FROM entries e JOIN accounts a ON a.id = e.account_id
         GROUP BY e.transfer_id, a.currency HAVING sum(e.amount) <> 0"""),
    ("currency_unbalanced", """
        SELECT 'currency ' || a.currency, 'all entries sum to ' || sum(e.amount), a.currency
          FROM entries e JOIN accounts a ON a.id = e.account_id
         GROUP BY a.currency HAVING sum(e.amount) <> 0"""),
    ("balance_negative", """
        SELECT 'account ' || a.id, a.kind || ' balance derived from entries is ' || d.total,
               a.currency
          FROM accounts a
          JOIN (SELECT account_id, sum(amount) AS total FROM entries GROUP BY account_id) d
            ON d.account_id = a.id
         WHERE d.total < 0 AND a.kind <> 'world'"""),
    ("transfer_without_entries", """
        SELECT 'transfer ' || t.id, 'has fewer than two entries', NULL
          FROM transfers t
         WHERE (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id) < 2"""),
    ("amount_off_scale", """
        SELECT 'entry ' || e.id, e.amount || ' has more decimals than ' || c.code || ' allows',
               c.code
          FROM entries e JOIN accounts a ON a.id = e.account_id
          JOIN currencies c ON c.code = a.currency
         WHERE e.amount <> round(e.amount, c.scale) OR e.amount = 0"""),
    # Every held unit is held for something: an order's remaining hold, or a withdrawal
    # not yet sent (amount and fee).
    ("holds_differ", """
        SELECT 'user ' || h.owner_user_id,
               h.currency || ' held ' || h.balance || ', but orders hold '
               || coalesce(o.total, 0) || ' and withdrawals ' || coalesce(w.total, 0),
               h.currency
          FROM accounts h
          LEFT JOIN (SELECT user_id, hold_currency AS currency, sum(hold_remaining) AS total
                       FROM orders GROUP BY user_id, hold_currency) o
            ON o.user_id = h.owner_user_id AND o.currency = h.currency
          LEFT JOIN (SELECT user_id, currency, sum(amount + fee) AS total FROM withdrawals
                      WHERE status IN ('pending_approval', 'queued', 'sending')
                      GROUP BY user_id, currency) w
            ON w.user_id = h.owner_user_id AND w.currency = h.currency
         WHERE h.kind = 'held' AND h.balance <> coalesce(o.total, 0) + coalesce(w.total, 0)"""),
)


@dataclass(frozen=True)
class Discrepancy:
    kind: str
    subject: str
    detail: str
    currency: str | None = None   # None: no single currency (treat as all)

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def reconcile(engine: Engine) -> list[Discrepancy]:
    """Every difference between the ledger's invariants and its rows; empty when clean."""
    found: list[Discrepancy] = []
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        for kind, query in CHECKS:
            remaining = DISCREPANCIES_MAX - len(found)
            if remaining <= 0:
                break
            rows = conn.execute(text(query + " LIMIT :limit"), {"limit": remaining}).all()
            found.extend(Discrepancy(kind, *row) for row in rows)
        conn.rollback()
    return found
