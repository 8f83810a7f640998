"""The Dramatiq broker on Redis, shared by every actor module (import this first)."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import config

class Observed(dramatiq.Middleware):
    """In a worker process (not in the web process that only sends): JSON logs, and
    this process's metrics on its PORT. Named by its queues: matcher, or worker."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from observability import logs, metrics

        logs.configure("matcher" if worker.consumer_whitelist == {"matcher"} else "worker")
        metrics.serve_from_env(config.load().bind_host)


broker = RedisBroker(url=config.load().redis_url)
broker.add_middleware(Observed())
dramatiq.set_broker(broker)
