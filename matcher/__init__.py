"""The matcher: one serial order book per market (core in book.py, I/O in workers/)."""
