"""Structured logs: one JSON object a line, with the process and, in the API, the
request id of the request being served.

    {"time": "...", "level": "INFO", "logger": "api", "process": "web",
     "message": "...", "request_id": "..."}
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import secrets

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)
# A request id is this process's random half and its count of requests: unique across
# processes and restarts like a uuid4, without a system call for 16 random bytes each.
_PROCESS_PART = secrets.token_hex(8)
_numbers = itertools.count()


def new_request_id() -> str:
    """32 hex digits, as a uuid4's ``hex`` was."""
    return f"{_PROCESS_PART}{next(_numbers):016x}"


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
