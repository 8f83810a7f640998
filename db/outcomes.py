"""What a failed database call tells of its transaction: rolled back, or perhaps committed.

A statement's error that the server reports (a constraint, a deadlock, a serialization
failure, a trigger's refusal) ends the transaction rolled back, even when it is the
COMMIT itself that fails (a deferred check). But when the connection breaks while COMMIT
is in flight, or the server ends the session around it (``pg_terminate_backend``, a
shutdown: SQLSTATE class 57, sent as the session dies, possibly after the commit record),
the commit may have happened and its answer been lost. A caller that retries such a
failure as if nothing had been written writes it twice; so only errors known to come
before the commit are "rolled back", and everything else after COMMIT was sent is
``CommitOutcomeUnknown``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db.errors import CommitOutcomeUnknown, DatabaseUnavailable

# SQLSTATE classes of the errors a server reports for a statement (or for COMMIT) that
# end the transaction rolled back: cardinality, data, integrity, transaction state,
# triggered changes, routines, rollback (serialization, deadlock), syntax and access,
# WITH CHECK, object state (a lock not available), unsupported, PL/pgSQL, the ledger's.
_ROLLED_BACK_CLASSES = frozenset({
    "09", "0A", "21", "22", "23", "25", "27", "2B", "2D", "38", "39", "40", "42", "44",
    "55", "P0", "EX"})
# Failures that the same request, tried again, may not meet: no SQLSTATE (the connection
# broke or could not be made), connection exceptions, operator intervention, resources.
_TRANSIENT_CLASSES = frozenset({"08", "53", "57"})
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock

UNREACHABLE = "the database is unavailable; nothing was changed: try again shortly"
UNCONFIRMED = ("the database did not confirm this change, so it may or may not have been "
               "made: check before repeating it")


def _sqlstate(error: BaseException) -> str | None:
    return getattr(getattr(error, "orig", None), "pgcode", None)


def rolled_back(error: BaseException) -> bool:
    """True when the server reported ``error`` and rolled the transaction back: whatever
    the statements did, nothing of it was committed."""
    code = _sqlstate(error)
    return isinstance(error, DBAPIError) and code is not None and \
        code[:2] in _ROLLED_BACK_CLASSES


def transient(error: BaseException) -> bool:
    """True when trying again may succeed: the database was unreachable, the connection
    broke, or the server gave up on a deadlock, a serialization failure or a lock wait."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    code = _sqlstate(error)
    return code is None or code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES


@contextmanager
def transaction(engine: Engine, unconfirmed: str = UNCONFIRMED) -> Iterator[Connection]:
    """``engine.begin()``, telling its failures apart: a transient failure before the
    commit raises ``DatabaseUnavailable`` (nothing committed), a commit whose answer was
    lost raises ``CommitOutcomeUnknown`` (with the message ``unconfirmed``), any other
    error is raised as it is."""
    try:
        conn = engine.connect()
    except (DBAPIError, PoolTimeout) as error:
        raise DatabaseUnavailable(UNREACHABLE) from error
    with conn:
        begun = conn.begin()
        try:
            yield conn
        except BaseException as error:
            _rollback_quietly(begun)
            if transient(error):  # COMMIT was never sent: the server rolls back
                raise DatabaseUnavailable(UNREACHABLE) from error
            raise
        try:
            begun.commit()
        except DBAPIError as error:
            if not rolled_back(error):
                raise CommitOutcomeUnknown(unconfirmed) from error
            if transient(error):
                raise DatabaseUnavailable(UNREACHABLE) from error
            raise


def _rollback_quietly(begun: RootTransaction) -> None:
    try:
        begun.rollback()
    except SQLAlchemyError:
        pass    # the connection is gone, and its transaction with it
