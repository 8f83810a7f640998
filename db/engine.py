"""SQLAlchemy engines on psycopg2, from the plain libpq URLs in the configuration."""

from __future__ import annotations

import os

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


# For the order path's sessions (web, matcher), which read rows by key only. PostgreSQL
# keeps the plans of its checks (foreign keys, triggers) for the life of a session, made
# from the tables' size when first used: a session opened while ``transfers`` was small
# went on checking each new entry's transfer (then a foreign key) with a sequential scan
# as the table grew (736 million rows read in one 30 s run of bench.trading, PostgreSQL's
# CPU per order up fourfold), and a small table whose rows are rewritten by every
# posting (``accounts``) is slow to scan whatever its size. Sequential scans still happen
# where no index serves. Their prepared statements (``db.round_trips.Prepared``) keep one
# generic plan, never planned again.
KEY_LOOKUPS = "-c enable_seqscan=off -c plan_cache_mode=force_generic_plan"
# Every session in UTC, whatever the server's default: times are shown in UTC, the same
# instant always as the same text (which ``trading.kept_views`` relies on).
UTC = "-c timezone=UTC"


def options(url: str, key_lookups: bool) -> str:
    """The sessions' settings: the operator's (the URL's ``options``, else ``PGOPTIONS``,
    which an explicit ``options`` would silently replace), then ours."""
    given = make_url(sqlalchemy_url(url)).query.get("options") or os.environ.get("PGOPTIONS")
    return " ".join(part for part in (given, UTC, KEY_LOOKUPS if key_lookups else None)
                    if part)


def create(url: str, *, pool_size: int = POOL_SIZE_DEFAULT, pooled: bool = True,
           key_lookups: bool = False, autocommit: bool = False,
           overflow_max: int = POOL_OVERFLOW_MAX) -> Engine:
    """``autocommit``: every connection stays in autocommit mode for life, for paths that
    begin and commit in their own statements. ``overflow_max``: connections opened past
    ``pool_size`` when all are in use, and closed on return. Switching a pooled connection into it per
    use (``execution_options``) costs a round trip on each return to the pool
    (``SET default_transaction_isolation TO DEFAULT``); on this engine, asking for
    AUTOCOMMIT again costs nothing."""
    connect_args = {"options": options(url, key_lookups)}
    isolation = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if not pooled:
        return create_engine(sqlalchemy_url(url), poolclass=pool.NullPool,
                             connect_args=connect_args, **isolation)
    return create_engine(
        sqlalchemy_url(url),
        connect_args=connect_args,
        **isolation,
        pool_size=pool_size,
        max_overflow=overflow_max,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        # No ping on every checkout: it doubles the round trips of a short request. A
        # connection broken by a server restart fails one request and is replaced.
        pool_recycle=POOL_RECYCLE_SECONDS,
    )
