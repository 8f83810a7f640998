"""Orders record their time priority: when the matcher put them in the book.

Sequence numbers are taken before an order's transaction commits, so the matcher can
put a later number in the book before an earlier one that committed later. A book
rebuilt in sequence order then queued equal prices differently from the book that had
been running. The matcher now numbers what it does per market (``book_sequence``, one
step per request and one per order entering the book) and writes an order's step when
it rests, with its state; the book is rebuilt in that order.

The orders resting now get their sequence number, the order a rebuild gives them today,
and each market's ``book_sequence`` is raised to at least the largest of them, so that
every order put in the book from now on queues behind them.

No index: the rebuild finds a market's resting orders by ``orders_active`` and sorts
them, once per start; an index on the column would be one more to keep on the UPDATE
of every batch.

Revision ID: 0019
Revises: 0017
"""
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE orders ADD COLUMN priority bigint;
UPDATE orders SET priority = sequence WHERE status IN ('open', 'partially_filled');
UPDATE market_state s SET book_sequence = greatest(s.book_sequence, resting.priority)
  FROM (SELECT market, max(priority) AS priority FROM orders
         WHERE status IN ('open', 'partially_filled') GROUP BY market) AS resting
 WHERE resting.market = s.market;
""")


def downgrade() -> None:
    op.execute("ALTER TABLE orders DROP COLUMN priority")
