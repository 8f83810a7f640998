"""Alembic runs migrations as the owner role (``DATABASE_ADMIN_URL``)."""

from alembic import context
import config
from db import engine as engines

settings = config.load()
url = context.config.attributes.get("url") or settings.database_admin_url
context.config.attributes.setdefault("app_role", settings.database_app_role)

engine = engines.create(url, pooled=False)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
