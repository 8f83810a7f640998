"""Operators' command-line tool (``python -m admin``): markets, currencies, users, ledger."""
