"""Real PostgreSQL and Redis servers started from PyPI wheels, data under ``var/``.

Used when ``DATABASE_URL`` / ``REDIS_URL`` are unset (``make run``) and by the test
suite. Both servers listen on unix sockets inside ``var/run`` only, so they never
collide with another copy of the project or with a system server.

Starting is idempotent (a running server is reused, never started twice) and
``stop()`` leaves nothing running.
"""

from embedded.postgres import EmbeddedPostgres
from embedded.redis import EmbeddedRedis

__all__ = ["EmbeddedPostgres", "EmbeddedRedis"]
