"""Structured logs: one JSON object a line, with the process and, in the API, the
request id of the request being served.

    {"time": "...", "level": "INFO", "logger": "api", "process": "web",
     "message": "...", "request_id": "..."}
"""

from __future__ import annotations

import contextvars
import logging
import os

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)


class _Context(logging.Filter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process
        current = request_id.get()
        if current is not None:
            record.request_id = current
        return True


def configure(process: str, level: int = logging.INFO) -> None:
    """JSON lines on stderr for every logger (``LOG_FORMAT=text`` for plain lines)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    if os.environ.get("LOG_FORMAT", "json") == "text":
        formatter: logging.Formatter = logging.Formatter("%(asctime)s %(name)s %(message)s")
    else:
        formatter = JsonFormatter(
            "{asctime}{levelname}{name}{process_name}{message}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                           "process_name": "process"})
    for handler in root.handlers:
        handler.setFormatter(formatter)
        handler.filters = [f for f in handler.filters if not isinstance(f, _Context)]
        handler.addFilter(_Context(process))
