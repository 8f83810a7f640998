"""The JSON API: Bottle on gevent, the only way into the exchange."""
