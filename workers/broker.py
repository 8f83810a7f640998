"""The workers' side of the broker (``events.broker``): their logs and metrics (import
this first)."""

import dramatiq

import config
from events.broker import broker

class Observed(dramatiq.Middleware):
    """In a worker process (not in the web process that only sends): JSON logs, and
    this process's metrics on its PORT. Named by its queues: matcher, or worker."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from observability import logs, metrics

        logs.configure("matcher" if worker.consumer_whitelist == {"matcher"} else "worker")
        metrics.serve_from_env(config.load().bind_host)


broker.add_middleware(Observed())
