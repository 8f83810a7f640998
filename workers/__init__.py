"""Dramatiq actors run by the matcher and worker processes."""
