"""One leader among scheduler processes, by a PostgreSQL advisory lock.

The lock lives as long as the leader's session: if the leader dies, PostgreSQL
drops it and a waiting standby takes over at its next try.
"""

from __future__ import annotations

import psycopg2

SCHEDULER_LOCK_KEY = 0x5C4ED  # any constant shared by every scheduler process


class Leadership:
    def __init__(self, database_url: str, key: int = SCHEDULER_LOCK_KEY) -> None:
        self.database_url = database_url
        self.key = key
        self._connection: psycopg2.extensions.connection | None = None
        self.unreachable = False  # the last try_acquire could not reach the database

    def try_acquire(self) -> bool:
        """True if this process now holds the lock; False if another does, or if the
        database could not be reached (then ``unreachable``)."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg2.connect(self.database_url)
                self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                held = bool(cursor.fetchone()[0])
        except psycopg2.OperationalError:
            self.release()
            self.unreachable = True
            return False
        self.unreachable = False
        return held

    def still_held(self) -> bool:
        """False once the session that holds the lock is gone."""
        if self._connection is None or self._connection.closed:
            return False
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except psycopg2.Error:
            return False

    def release(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None
