"""The Dramatiq broker on Redis, shared by every actor module (import this first)."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import config

broker = RedisBroker(url=config.load().redis_url)
dramatiq.set_broker(broker)
