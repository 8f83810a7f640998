"""The Dramatiq broker on Redis: set once per process, for whoever sends or consumes."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import config

broker = RedisBroker(url=config.load().redis_url)
dramatiq.set_broker(broker)
