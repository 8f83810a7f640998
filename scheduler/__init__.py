"""Periodic jobs under one leader (APScheduler plus a PostgreSQL advisory lock)."""
