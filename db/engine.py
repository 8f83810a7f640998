"""SQLAlchemy engines on psycopg2, from the plain libpq URLs in the configuration."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, pool
from sqlalchemy.engine import make_url

POOL_SIZE_DEFAULT = 10
POOL_OVERFLOW_MAX = 20
POOL_TIMEOUT_SECONDS = 10
POOL_RECYCLE_SECONDS = 1800


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` means psycopg2 here (SQLAlchemy 2.1 would pick psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def create(url: str, *, pool_size: int = POOL_SIZE_DEFAULT, pooled: bool = True) -> Engine:
    if not pooled:
        return create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=POOL_OVERFLOW_MAX,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        # No ping on every checkout: it doubles the round trips of a short request. A
        # connection broken by a server restart fails one request and is replaced.
        pool_recycle=POOL_RECYCLE_SECONDS,
    )
