"""Prometheus metrics. Each process serves its own: ``web`` at ``/metrics`` on the API's
port, every other process on its ``PORT`` (the runner gives each one), when set."""

from __future__ import annotations

import logging
import os

from typing import Any, Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("metrics")
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# web
HTTP_REQUESTS = Counter("exchange_http_requests", "API requests answered",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("exchange_http_request_seconds", "API request handling time",
                         ["method", "route"], buckets=LATENCY_BUCKETS)
ORDERS_ACCEPTED = Counter("exchange_orders_accepted", "orders accepted for matching",
                          ["market"])
ORDER_BATCH_ORDERS = Histogram("exchange_order_batch_orders", "orders written by one "
                               "order-placing transaction", buckets=BATCH_BUCKETS)
ORDER_OUTCOMES_UNKNOWN = Counter("exchange_order_outcomes_unknown", "orders answered 503 "
                                 "outcome_unknown: placed or not, the database never said")
ORDER_BATCH_SECONDS = Histogram("exchange_order_batch_seconds", "how long an order-placing "
                                "transaction takes, from its first statement to its commit",
                                buckets=LATENCY_BUCKETS)
WS_BOOK_SNAPSHOTS = Counter("exchange_ws_book_snapshots", "book snapshots sent on WebSockets: "
                            "by a query of their own, or from memory (the book the process "
                            "follows, or a query another subscriber was running)", ["source"])
WS_SOCKETS_ENDED = Counter("exchange_ws_sockets_ended", "WebSockets the server ended, by the "
                           "code it sent", ["code"])
WITHDRAWALS_REQUESTED = Counter("exchange_withdrawals_requested",
                                "withdrawals accepted (funds held)", ["currency"])
# matcher
MATCH_SECONDS = Histogram("exchange_match_seconds", "from an order's acceptance to its "
                          "settlement by the matcher", ["market"], buckets=LATENCY_BUCKETS)
MATCHER_BATCH_REQUESTS = Histogram("exchange_matcher_batch_requests", "requests settled by "
                                   "one matcher transaction", ["market"],
                                   buckets=BATCH_BUCKETS)
MATCHER_REQUESTS = Counter("exchange_matcher_requests", "requests the matcher settled",
                           ["market", "kind"])
# worker
WITHDRAWAL_ATTEMPTS = Counter("exchange_withdrawal_attempts", "attempts to pay a withdrawal, "
                              "by the status they left it in", ["status"])
# scheduler
QUEUE_DEPTH = Gauge("exchange_queue_depth", "messages waiting in a Dramatiq queue", ["queue"])
MATCHER_BACKLOG = Gauge("exchange_matcher_backlog", "requests not yet settled")
MARKETS_HALTED = Gauge("exchange_markets_halted", "markets halted: they take no orders "
                       "until an operator resumes them")
RECONCILIATION_DISCREPANCIES = Gauge("exchange_reconciliation_discrepancies",
                                     "differences the last reconciliation found")
RECONCILIATION_LAST_RUN = Gauge("exchange_reconciliation_last_run_timestamp_seconds",
                                "when reconciliation last ran")
WITHDRAWALS_WAITING = Gauge("exchange_withdrawals_waiting", "withdrawals not yet sent or "
                            "needing an operator", ["status"])
WALLET_SHORTFALL = Gauge("exchange_wallet_shortfall", "what a node wallet lacks of what "
                         "users hold", ["currency"])
BACKUP_LAST_SUCCESS = Gauge("exchange_backup_last_success_timestamp_seconds",
                            "when the last backup was stored")

_served = False


def serve_from_env(host: str) -> int | None:
    """Serve this process's metrics on ``PORT`` if set (once per process); the port."""
    global _served
    port = os.environ.get("PORT")
    if _served or not port:
        return None
    start_http_server(int(port), addr=host)
    _served = True
    log.info("metrics on http://%s:%s/metrics", host, port)
    return int(port)


def request_recorder(route: str) -> Callable[[str, int, float], None]:
    """``record(method, status, seconds)`` for one route's requests: its labelled
    children found once each, not per request (finding them was a tenth of a request)."""
    children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def record(method: str, status: int, seconds: float) -> None:
        child = children.get((method, status))
        if child is None:
            child = children[(method, status)] = (
                HTTP_REQUESTS.labels(method, route, status), HTTP_SECONDS.labels(method, route))
        child[0].inc()
        child[1].observe(seconds)
    return record
