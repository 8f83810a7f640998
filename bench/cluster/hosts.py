"""Hosts as network namespaces on a private bridge: each with its own address, reaching
the others only through the bridge, as machines on one private network would.

The root namespace keeps the bridge's own address (``.1``): the operator's machine, and
the internet the load comes from."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import config

PREFIX = "xc-"                   # namespaces and links made here, and only these
BRIDGE = "xc-bridge"
SUBNET = "10.231.7"              # /24; .1 is the bridge (the operator's machine)
IP_TIMEOUT_SECONDS = 20
STOP_GRACE_SECONDS = 10
# One cluster at a time on a machine: its names and addresses are fixed, and a new one
# first removes what an earlier run left.
LOCK_PATH = Path("/run/lock/exchange-cluster.lock")
LOCK_WAIT_SECONDS_MAX = 300


class ClusterError(Exception):
    """Raised when a host cannot be made or a command on it fails."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True,
                            timeout=IP_TIMEOUT_SECONDS)
    if check and result.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def namespaces_allowed() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "building the cluster needs root (network namespaces, veth, a bridge)"
    probe = f"{PREFIX}probe-{os.getpid()}"
    try:
        result = ip("netns", "add", probe, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return f"ip netns add failed: {error}"
    if result.returncode != 0:
        return f"ip netns add failed: {result.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@contextmanager
def machine_lock(wait_seconds: float = LOCK_WAIT_SECONDS_MAX) -> Iterator[None]:
    """Held while a cluster is built, run and torn down (or its leftovers removed)."""
    with LOCK_PATH.open("w") as lock:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"another cluster ran here for {wait_seconds} s "
                                       f"({LOCK_PATH})") from None
                time.sleep(1)
        yield


@dataclass
class Host:
    name: str
    address: str
    log_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return PREFIX + self.name

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def start(self, label: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """A long-running process on this host, its output in ``log_dir/label.log``."""
        log = (self.log_dir / f"{label}.log").open("ab")
        self._logs.append(log)
        process = subprocess.Popen(self.command(argv), cwd=config.PROJECT_DIR, env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, argv: list[str], env: dict[str, str] | None = None,
            timeout: float = 300) -> str:
        """A command on this host, to its end; its output."""
        result = subprocess.run(self.command(argv), cwd=config.PROJECT_DIR, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise ClusterError(f"{self.name}: {' '.join(argv)} failed:\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def pids(self) -> list[int]:
        """Every process in this host's namespace, whoever started it."""
        found = ip("netns", "pids", self.namespace, check=False).stdout.split()
        return [int(pid) for pid in found]

    def kill(self, signum: int = signal.SIGKILL) -> int:
        """Signal every process on the host (SIGKILL: the host's processes die at once);
        returns how many there were."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        return len(pids)

    def link_down(self) -> None:
        """Unplug the host: nothing it sends arrives, nothing reaches it."""
        ip("-n", self.namespace, "link", "set", "eth0", "down")

    def stop(self) -> None:
        """SIGTERM to everything on the host, SIGKILL to what is left after the grace."""
        self.kill(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.kill(signal.SIGKILL)
        for process in self.processes:
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        for log in self._logs:
            log.close()


class Network:
    """The bridge and its hosts; ``close()`` removes all of it, whatever state it is in."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.hosts: dict[str, Host] = {}
        remove_leftovers()
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")

    @property
    def subnet(self) -> str:
        return f"{SUBNET}.0/24"

    def add(self, name: str, number: int) -> Host:
        host = Host(name, f"{SUBNET}.{number}", self.log_dir / name)
        host.log_dir.mkdir(parents=True, exist_ok=True)
        self.hosts[name] = host
        outside = f"{PREFIX}{name}"[:15]
        ip("netns", "add", host.namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", "eth0",
           "netns", host.namespace)
        ip("link", "set", outside, "master", BRIDGE)
        ip("link", "set", outside, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "eth0", "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        for host in reversed(list(self.hosts.values())):
            try:
                host.stop()
            except Exception:       # noqa: BLE001 (tear down the rest whatever happened)
                host.kill()
        remove_leftovers()


def remove_leftovers() -> None:
    """Namespaces and links of ours that a run cut short left behind (never others')."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        namespace = line.split()[0] if line.split() else ""
        if namespace.startswith(PREFIX):
            for pid in ip("netns", "pids", namespace, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ip("netns", "del", namespace, check=False)
    links = ip("-o", "link", "show", check=False).stdout.splitlines()
    for line in links:
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(PREFIX):
            ip("link", "del", name, check=False)
