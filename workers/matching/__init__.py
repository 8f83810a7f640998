"""The matcher process: its Dramatiq actor (``actor.py``, run as ``dramatiq
workers.matching.actor``), one runner per market around the pure core (``runner.py``), its
SQL (``statements.py``) and the rows it reads and writes (``rows.py``)."""
