"""Backups: consistent PostgreSQL dumps, encrypted, with a checksum manifest, copied to a
pluggable target; restores verified into a scratch database by reconciliation."""
