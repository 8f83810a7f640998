"""A process behind the feed ends its slowest sockets first (``api.ws_shedding``), a share
at a time and at most once per interval, and none while it keeps up. ``bench.ws`` shows
it on a real process past its capacity."""

from __future__ import annotations

import time

from api import ws_limits, ws_shedding
from api.ws_shedding import SHED_MESSAGE, Shedder
from api.ws_sockets import Client


def clients(number: int) -> list[Client]:
    made = []
    for _ in range(number):
        made.append(Client(1000, ws_limits.MessageBudget(10, 20)))
        time.sleep(0.001)          # each connected after the one before
    return made


def test_a_process_that_keeps_up_ends_nothing():
    sockets = clients(10)
    shedder = Shedder(1.0, lambda: sockets)
    assert [shedder.behind(seconds) for seconds in (0, 0.5, 1.0)] == [0, 0, 0]
    assert all(client.ended is None for client in sockets)


def test_behind_it_ends_a_share_slowest_first_then_the_last_connected(monkeypatch):
    sockets = clients(20)
    sockets[3].outbox.frames = [b"x"] * 5         # the slowest reader
    sockets[7].outbox.frames = [b"x"] * 2
    shedder = Shedder(1.0, lambda: sockets)
    assert shedder.behind(1.5) == 2               # a tenth of 20
    assert [i for i, c in enumerate(sockets) if c.ended] == [3, 7]
    assert sockets[3].ended == ("slow_consumer", SHED_MESSAGE)
    assert shedder.behind(5.0) == 0               # not again within the interval
    monkeypatch.setattr(ws_shedding, "SHED_INTERVAL_SECONDS", 0.0)
    assert shedder.behind(5.0) == 2               # of the 18 left, the last connected
    assert [i for i, c in enumerate(sockets) if c.ended] == [3, 7, 18, 19]
    assert shedder.shed == 4


def test_announcements_waiting_without_a_break_count_but_a_pause_does_not(monkeypatch):
    sockets = clients(10)
    shedder = Shedder(0.05, lambda: sockets)
    for _ in range(3):                 # behind, but for less than the bound
        shedder.began()
        assert shedder.ended(more_waiting=True) == 0
    time.sleep(0.1)                    # a pause longer than the bound: not fan-out work
    shedder.began()
    assert shedder.ended(more_waiting=True) == 0
    shedder.began()
    time.sleep(0.06)                   # one announcement's fan-out took past the bound
    assert shedder.ended(more_waiting=True) == 1
    shedder.began()
    assert shedder.ended(more_waiting=False) == 0
