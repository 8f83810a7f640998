"""Trading: orders, the matcher's work queue, trades and fills, per-market state.

Revision ID: 0004
Revises: 0003
"""
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTIVE = "('accepted', 'open', 'partially_filled', 'untriggered')"


def upgrade() -> None:
    op.execute(f"""
CREATE SEQUENCE matcher_sequence;

CREATE TABLE orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users,
    market          text NOT NULL REFERENCES markets,
    client_order_id text CHECK (length(client_order_id) BETWEEN 1 AND 64),
    side            text NOT NULL CHECK (side IN ('buy', 'sell')),
    type            text NOT NULL CHECK (type IN ('market', 'limit', 'stop_market', 'stop_limit')),
    time_in_force   text NOT NULL CHECK (time_in_force IN ('gtc', 'ioc', 'fok', 'gtd')),
    price           numeric CHECK (price > 0),
    stop_price      numeric CHECK (stop_price > 0),
    quantity        numeric CHECK (quantity > 0),
    quote_quantity  numeric CHECK (quote_quantity > 0),
    post_only       boolean NOT NULL DEFAULT false,
    expire_at       timestamptz,
    status          text NOT NULL CHECK (status IN ('accepted', 'open', 'partially_filled',
                        'filled', 'cancelled', 'expired', 'rejected', 'untriggered')),
    reject_reason   text,
    filled_quantity numeric NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    filled_notional numeric NOT NULL DEFAULT 0 CHECK (filled_notional >= 0),
    fee_paid        numeric NOT NULL DEFAULT 0 CHECK (fee_paid >= 0),
    fee_accrued     numeric NOT NULL DEFAULT 0 CHECK (fee_accrued >= 0),  -- exact, unrounded
    hold_currency   text NOT NULL REFERENCES currencies,
    hold_amount     numeric NOT NULL CHECK (hold_amount >= 0),
    hold_remaining  numeric NOT NULL CHECK (hold_remaining >= 0),
    sequence        bigint NOT NULL UNIQUE,
    triggered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, client_order_id),
    CHECK ((quantity IS NULL) <> (quote_quantity IS NULL)),
    CHECK ((time_in_force = 'gtd') = (expire_at IS NOT NULL))
);
CREATE INDEX orders_by_user ON orders (user_id, id DESC);
CREATE INDEX orders_active ON orders (market, sequence) WHERE status IN {ACTIVE};
CREATE INDEX orders_active_by_user ON orders (user_id) WHERE status IN {ACTIVE};
CREATE INDEX orders_expiring ON orders (expire_at) WHERE status IN {ACTIVE};

CREATE TABLE matcher_requests (
    sequence        bigint PRIMARY KEY,
    market          text NOT NULL REFERENCES markets,
    kind            text NOT NULL CHECK (kind IN ('order', 'cancel', 'expire')),
    order_id        bigint NOT NULL REFERENCES orders,
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX matcher_requests_pending ON matcher_requests (market, sequence)
    WHERE processed_at IS NULL;
CREATE UNIQUE INDEX matcher_requests_one_expiry ON matcher_requests (order_id)
    WHERE kind = 'expire';

CREATE TABLE trades (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market          text NOT NULL REFERENCES markets,
    price           numeric NOT NULL CHECK (price > 0),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    taker_side      text NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    maker_order_id  bigint NOT NULL REFERENCES orders,
    taker_order_id  bigint NOT NULL REFERENCES orders,
    transfer_id     bigint NOT NULL REFERENCES transfers,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trades_by_market ON trades (market, id DESC);

CREATE TABLE fills (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trade_id        bigint NOT NULL REFERENCES trades,
    user_id         bigint NOT NULL REFERENCES users,
    order_id        bigint NOT NULL REFERENCES orders,
    market          text NOT NULL,
    side            text NOT NULL,
    price           numeric NOT NULL,
    quantity        numeric NOT NULL,
    fee             numeric NOT NULL,
    fee_currency    text NOT NULL,
    liquidity       text NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fills_by_user ON fills (user_id, id DESC);

CREATE TRIGGER trades_append_only BEFORE UPDATE OR DELETE ON trades
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER fills_append_only BEFORE UPDATE OR DELETE ON fills
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TABLE market_state (
    market          text PRIMARY KEY REFERENCES markets,
    last_price      numeric,
    last_trade_id   bigint
);
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE ON orders, matcher_requests, market_state TO "{role}";
        GRANT SELECT, INSERT ON trades, fills TO "{role}";
        GRANT USAGE ON SEQUENCE matcher_sequence TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("DROP TABLE market_state, fills, trades, matcher_requests, orders; "
               "DROP SEQUENCE matcher_sequence")
