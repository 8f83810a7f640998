"""Table definitions for queries (SQLAlchemy Core). Migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Column, DateTime, ForeignKey, Integer, LargeBinary, MetaData, Numeric,
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
