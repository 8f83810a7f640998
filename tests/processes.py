"""Start the Procfile's processes against the test database, as the runner would."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import config

STOP_TIMEOUT_SECONDS = 20
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile() -> dict[str, str]:
    lines = (config.PROJECT_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


_running: list["Process"] = []


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a process group, which may have ended on its own a moment ago."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def running() -> list["Process"]:
    return list(_running)


def kill_leftovers(keep: list["Process"]) -> None:
    """Kill what a failed test left running (called after every test), but ``keep``."""
    for process in [p for p in _running if p not in keep]:
        _running.remove(process)
        _kill_group(process.process)
        process._log.close()


class Process:
    def __init__(self, name: str, log_dir: Path, **env: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            shlex.split(procfile()[name]), cwd=config.PROJECT_DIR,
            env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        _running.append(self)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} never printed {text!r}:\n{self.output()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash of the machine's process would."""
        _kill_group(self.process)
        self._log.close()
        if self in _running:
            _running.remove(self)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process (not its group, as an operator's kill would) and wait."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_TIMEOUT_SECONDS)
        finally:
            _kill_group(self.process)
            self._log.close()
            if self in _running:
                _running.remove(self)


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_http(url: str, process: Process) -> None:
    """Until ``process`` answers ``url``; if it never does, it is killed (a fixture that
    fails here has no teardown to stop it)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            get(url, timeout=1)
            return
        except OSError:
            if process.process.poll() is not None or time.monotonic() > deadline:
                output = process.output()
                process.kill()
                raise AssertionError(f"{process.name} never answered {url}:\n{output}")
            time.sleep(0.1)
