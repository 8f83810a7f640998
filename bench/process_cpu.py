"""CPU time of given processes, read from ``/proc/<pid>/stat``, by kind.

The machine is shared (other benchmarks, other engineers' servers): a kind is the
processes we started, named by pid, never every process with a matching name.
PostgreSQL's kind is its postmaster with every child it has at the reading, and the
children that ended since (the postmaster's ``cutime``/``cstime``).
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces; it ends at the last ")".
    return text[text.rindex(")") + 2:].split()


def seconds_of(pid: int, with_children: bool = False) -> float:
    """User + system CPU of ``pid`` (with its ended, waited-for children's)."""
    fields = _fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS_PER_SECOND


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _fields(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


class ProcessCpu:
    """CPU seconds used by each kind between ``start`` and ``stop``: ``kinds`` maps a
    kind to (pid, whether its children count)."""

    def __init__(self, kinds: dict[str, tuple[int, bool]]) -> None:
        self.kinds = kinds
        self._start: dict[str, dict[int, float]] = {}
        self.used: dict[str, float] = {}

    def _reading(self) -> dict[str, dict[int, float]]:
        reading = {}
        for kind, (pid, with_children) in self.kinds.items():
            own = {pid: seconds_of(pid, with_children)}
            if with_children:
                own.update({child: seconds_of(child) for child in children_of(pid)})
            reading[kind] = own
        return reading

    def start(self) -> None:
        self._start = self._reading()

    def stop(self) -> None:
        end = self._reading()
        self.used = {kind: sum(seconds - self._start[kind].get(pid, 0.0)
                               for pid, seconds in pids.items())
                     for kind, pids in end.items()}

    def per_request_ms(self, requests: float) -> dict[str, float]:
        return {kind: seconds * 1000 / max(requests, 1.0) for kind, seconds in self.used.items()}
