"""The Dramatiq broker on Redis: set once per process, for whoever sends or consumes."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import config

# Timeouts: a paused Redis fails a sender's call in seconds (a web request's wake-up is
# best effort) rather than holding it; the consumers reconnect by themselves.
broker = RedisBroker(url=config.load().redis_url, socket_timeout=5.0, socket_connect_timeout=2.0)
dramatiq.set_broker(broker)
