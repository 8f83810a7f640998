"""Currency plugins: one driver per chain family behind one interface (see base.py)."""
