"""Bring the embedded servers up or down for a given configuration."""

from __future__ import annotations

from urllib.parse import urlparse

import psycopg2
from psycopg2 import sql

from config import Settings
from embedded.postgres import EmbeddedPostgres
from embedded.redis import EmbeddedRedis


def up(settings: Settings) -> None:
    if settings.embedded_postgres:
        EmbeddedPostgres(settings.var_dir).start()
        ensure_database(settings)
    if settings.embedded_redis:
        EmbeddedRedis(settings.var_dir).start()


def down(settings: Settings) -> None:
    if settings.embedded_redis:
        EmbeddedRedis(settings.var_dir).stop()
    if settings.embedded_postgres:
        EmbeddedPostgres(settings.var_dir).stop()


def status(settings: Settings) -> dict[str, str]:
    postgres = EmbeddedPostgres(settings.var_dir)
    redis = EmbeddedRedis(settings.var_dir)
    return {
        "postgres": ("running" if postgres.is_running() else "stopped")
        if settings.embedded_postgres else "external",
        "redis": ("running" if redis.is_running() else "stopped")
        if settings.embedded_redis else "external",
    }


def ensure_database(settings: Settings, database: str | None = None) -> None:
    """Create the application role and the database if they are missing."""
    database = database or urlparse(settings.database_admin_url).path.lstrip("/")
    maintenance_url = settings.database_admin_url.replace(f"/{database}?", "/postgres?")
    connection = psycopg2.connect(maintenance_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                           (settings.database_app_role,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(
                    sql.Identifier(settings.database_app_role)))
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        connection.close()
