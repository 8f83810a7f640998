"""The database: engine construction, table definitions and Alembic migrations."""
