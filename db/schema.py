"""Table definitions for queries (SQLAlchemy Core). Migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, ForeignKey, Integer, LargeBinary, MetaData, Numeric,
    SmallInteger, Table, Text, Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR

metadata = MetaData()

currencies = Table(
    "currencies", metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("scale", SmallInteger, nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("driver", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("withdrawal_fee", Numeric(asdecimal=True), nullable=False),
    Column("withdrawal_min", Numeric(asdecimal=True), nullable=False),
    Column("withdrawal_max", Numeric(asdecimal=True)),
    Column("withdrawal_daily_max", Numeric(asdecimal=True)),
    Column("withdrawal_approval_above", Numeric(asdecimal=True)),
    Column("withdrawals_paused", Boolean, nullable=False),
    Column("withdrawals_paused_reason", Text),      # why, for the operator who resumes
    Column("withdrawals_paused_at", DateTime(timezone=True)),
)

markets = Table(
    "markets", metadata,
    Column("symbol", Text, primary_key=True),
    Column("base", Text, ForeignKey("currencies.code"), nullable=False),
    Column("quote", Text, ForeignKey("currencies.code"), nullable=False),
    Column("tick_size", Numeric(asdecimal=True), nullable=False),
    Column("lot_size", Numeric(asdecimal=True), nullable=False),
    Column("min_notional", Numeric(asdecimal=True), nullable=False),
    Column("maker_fee_bps", Integer, nullable=False),
    Column("taker_fee_bps", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

users = Table(
    "users", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("totp_secret_encrypted", LargeBinary),
    Column("totp_enabled_at", DateTime(timezone=True)),
    Column("totp_last_step", BigInteger),
    Column("frozen_at", DateTime(timezone=True)),
)

sessions = Table(
    "sessions", metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

totp_recovery_codes = Table(
    "totp_recovery_codes", metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("code_hash", LargeBinary, primary_key=True),
    Column("used_at", DateTime(timezone=True)),
)

second_factor_failures = Table(
    "second_factor_failures", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("action", Text, nullable=False),
    Column("failed_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("ip_allowlist", ARRAY(CIDR), nullable=False),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

accounts = Table(
    "accounts", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("owner_user_id", BigInteger, ForeignKey("users.id")),
    Column("currency", Text, ForeignKey("currencies.code"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("balance", Numeric(asdecimal=True), nullable=False),
    Column("entry_count", BigInteger, nullable=False),
)

transfers = Table(
    "transfers", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("content_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

entries = Table(
    "entries", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("transfer_id", BigInteger, ForeignKey("transfers.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("amount", Numeric(asdecimal=True), nullable=False),
)

orders = Table(
    "orders", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("market", Text, ForeignKey("markets.symbol"), nullable=False),
    Column("client_order_id", Text),
    Column("side", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("time_in_force", Text, nullable=False),
    Column("price", Numeric(asdecimal=True)),
    Column("stop_price", Numeric(asdecimal=True)),
    Column("quantity", Numeric(asdecimal=True)),
    Column("quote_quantity", Numeric(asdecimal=True)),
    Column("post_only", Boolean, nullable=False),
    Column("expire_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False),
    Column("reject_reason", Text),
    Column("filled_quantity", Numeric(asdecimal=True), nullable=False),
    Column("filled_notional", Numeric(asdecimal=True), nullable=False),
    Column("fee_paid", Numeric(asdecimal=True), nullable=False),
    Column("fee_accrued", Numeric(asdecimal=True), nullable=False),
    Column("hold_currency", Text, nullable=False),
    Column("hold_amount", Numeric(asdecimal=True), nullable=False),
    Column("hold_remaining", Numeric(asdecimal=True), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("triggered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("priority", BigInteger),
)

matcher_requests = Table(
    "matcher_requests", metadata,
    Column("sequence", BigInteger, primary_key=True),
    Column("market", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("processed_at", DateTime(timezone=True)),
)

trades = Table(
    "trades", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("market", Text, nullable=False),
    Column("price", Numeric(asdecimal=True), nullable=False),
    Column("quantity", Numeric(asdecimal=True), nullable=False),
    Column("taker_side", Text, nullable=False),
    Column("maker_order_id", BigInteger, nullable=False),
    Column("taker_order_id", BigInteger, nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

fills = Table(
    "fills", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("trade_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("market", Text, nullable=False),
    Column("side", Text, nullable=False),
    Column("price", Numeric(asdecimal=True), nullable=False),
    Column("quantity", Numeric(asdecimal=True), nullable=False),
    Column("fee", Numeric(asdecimal=True), nullable=False),
    Column("fee_currency", Text, nullable=False),
    Column("liquidity", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

market_state = Table(
    "market_state", metadata,
    Column("market", Text, primary_key=True),
    Column("last_price", Numeric(asdecimal=True)),
    Column("last_trade_id", BigInteger),
    Column("book_sequence", BigInteger, nullable=False),
)

candles = Table(
    "candles", metadata,
    Column("market", Text, primary_key=True),
    Column("interval", Text, primary_key=True),
    Column("start", DateTime(timezone=True), primary_key=True),
    Column("open", Numeric(asdecimal=True), nullable=False),
    Column("high", Numeric(asdecimal=True), nullable=False),
    Column("low", Numeric(asdecimal=True), nullable=False),
    Column("close", Numeric(asdecimal=True), nullable=False),
    Column("volume", Numeric(asdecimal=True), nullable=False),
    Column("quote_volume", Numeric(asdecimal=True), nullable=False),
    Column("taker_buy_volume", Numeric(asdecimal=True), nullable=False),
    Column("taker_buy_quote_volume", Numeric(asdecimal=True), nullable=False),
    Column("trades", Integer, nullable=False),
)

deposit_addresses = Table(
    "deposit_addresses", metadata,
    Column("currency", Text, primary_key=True),
    Column("address", Text, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

deposits = Table(
    "deposits", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("currency", Text, nullable=False),
    Column("txid", Text, nullable=False),
    Column("output_index", Integer, nullable=False),
    Column("address", Text, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("amount", Numeric(asdecimal=True), nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("block_height", BigInteger),
    Column("status", Text, nullable=False),
    Column("transfer_id", BigInteger),
    Column("seen_at", DateTime(timezone=True)),
    Column("credited_at", DateTime(timezone=True)),
)

withdrawal_addresses = Table(
    "withdrawal_addresses", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("usable_from", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

withdrawals = Table(
    "withdrawals", metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("amount", Numeric(asdecimal=True), nullable=False),
    Column("fee", Numeric(asdecimal=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("txid", Text),
    Column("confirmations", Integer, nullable=False),
    Column("network_fee", Numeric(asdecimal=True)),
    Column("error", Text),
    Column("needs_attention", Boolean, nullable=False),   # sending, and an operator must look
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
