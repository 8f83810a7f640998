"""Take-profit orders: ``orders.type`` also takes ``take_profit_market`` and
``take_profit_limit``.

A take-profit is a conditional order like a stop (same ``stop_price``, same
``untriggered`` status) that triggers the other way: a sell once the last price rises to
its stop price, a buy once it falls to it. Only the check on the column changes. 0004
left that check its default name; it is found by the column it checks rather than by
name, and put back under the name PostgreSQL gives it, ``orders_type_check``. No
privilege changes: the application role inserts orders as before.

Revision ID: 0022
Revises: 0021
"""
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_REPLACE = """
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT c.conname FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = 'type'
         WHERE c.conrelid = 'public.orders'::regclass AND c.contype = 'c'
           AND c.conkey = ARRAY[a.attnum]
    LOOP
        EXECUTE format('ALTER TABLE orders DROP CONSTRAINT %I', found.conname);
    END LOOP;
END $$;
ALTER TABLE orders ADD CONSTRAINT orders_type_check CHECK (type IN ({types}));
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = 'type'
         WHERE c.conrelid = 'public.orders'::regclass AND c.contype = 'c'
           AND c.conkey = ARRAY[a.attnum]) <> 1 THEN
        RAISE EXCEPTION 'orders.type should have exactly one check constraint';
    END IF;
END $$;
"""
_BEFORE = ("market", "limit", "stop_market", "stop_limit")
_AFTER = _BEFORE + ("take_profit_market", "take_profit_limit")


def _replace(types: tuple[str, ...]) -> None:
    op.execute(_REPLACE.replace("{types}", ", ".join(f"'{name}'" for name in types)))


def upgrade() -> None:
    _replace(_AFTER)


def downgrade() -> None:
    # Refused (by the check itself) once take-profit orders exist: orders are never
    # deleted, and turning them into another type would change what their traders asked.
    _replace(_BEFORE)
