"""Apply every Alembic migration (``python -m db.migrate``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

import config


def upgrade(url: str | None = None, app_role: str | None = None) -> None:
    alembic_config = Config(str(config.PROJECT_DIR / "alembic.ini"))
    if url is not None:
        alembic_config.attributes["url"] = url
    if app_role is not None:
        alembic_config.attributes["app_role"] = app_role
    command.upgrade(alembic_config, "head")


if __name__ == "__main__":
    upgrade()
