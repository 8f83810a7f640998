"""``python -m tools.supervise``: run every process of the Procfile under supervisord.

A process that ends, for whatever reason, is started again (after a delay that grows by a
second a try while it keeps failing to stay up), and the others go on: one process's end
never takes the exchange down. SIGTERM or Ctrl-C stops them all, in the Procfile's
reverse order (the demo maker cancels its quotes while ``web`` still answers), each with
SIGTERM and then, after ``STOP_WAIT_SECONDS``, SIGKILL.

Ports as honcho gives them: a process kind's ``PORT`` is ``PORT`` (8000 by default) plus
100 times the kind's place in the Procfile, plus the instance's number from 0.
``CONCURRENCY=web=2,worker=3`` runs that many of a kind.

The configuration is written to ``VAR_DIR/supervisor/supervisord.conf``; while it runs,
``supervisorctl -c var/supervisor/supervisord.conf status`` lists the processes and their
PIDs, and ``... restart web-0`` restarts one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import config

STOP_WAIT_SECONDS = 30
START_RETRIES = 1_000_000   # never give up on a process: its dependency may be away for long
UP_AFTER_SECONDS = 1        # running this long counts as started; a quicker end is a failure


def procfile(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().splitlines()
    return [tuple(line.split(": ", 1)) for line in lines  # type: ignore[misc]
            if line.strip() and not line.startswith("#")]


def concurrency(text: str) -> dict[str, int]:
    """``web=2,worker=3`` -> {"web": 2, "worker": 3}."""
    counts = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise SystemExit(f"CONCURRENCY: {item!r} is not kind=number")
        counts[name.strip()] = int(number)
    return counts


def render(processes: list[tuple[str, str]], project_dir: Path, var_dir: Path,
           base_port: int, counts: dict[str, int]) -> str:
    run_dir = var_dir / "run"
    sections = [
        "[supervisord]\nnodaemon=true\nlogfile=%s\npidfile=%s\n" % (
            var_dir / "log" / "supervisord.log", run_dir / "supervisord.pid"),
        "[unix_http_server]\nfile=%s\nchmod=0700\n" % (run_dir / "supervisor.sock"),
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        "[supervisorctl]\nserverurl=unix://%s\n" % (run_dir / "supervisor.sock"),
    ]
    unknown = set(counts) - {name for name, _ in processes}
    if unknown:
        raise SystemExit(f"CONCURRENCY names no Procfile process: {', '.join(sorted(unknown))}")
    for position, (name, command) in enumerate(processes):
        for instance in range(counts.get(name, 1)):
            port = base_port + 100 * position + instance
            sections.append("\n".join((
                f"[program:{name}-{instance}]",
                f"command={command.replace('%', '%%')}",
                f"directory={project_dir}",
                f'environment=PORT="{port}"',
                f"priority={position + 1}",
                "autostart=true",
                "autorestart=true",
                f"startsecs={UP_AFTER_SECONDS}",
                f"startretries={START_RETRIES}",
                "stopsignal=TERM",
                f"stopwaitsecs={STOP_WAIT_SECONDS}",
                "stopasgroup=false",   # the process stops its own children (dramatiq)
                "killasgroup=true",
                "redirect_stderr=true",
                "stdout_logfile=/dev/stdout",
                "stdout_logfile_maxbytes=0",
                "",
            )))
    return "\n".join(sections)


def main() -> None:
    settings = config.load()
    var_dir = settings.var_dir
    for directory in (var_dir / "supervisor", var_dir / "run", var_dir / "log"):
        directory.mkdir(parents=True, exist_ok=True)
    path = var_dir / "supervisor" / "supervisord.conf"
    path.write_text(render(procfile(config.PROJECT_DIR / "Procfile"), config.PROJECT_DIR,
                           var_dir, int(os.environ.get("PORT", "8000")),
                           concurrency(os.environ.get("CONCURRENCY", ""))))
    supervisord = Path(sys.executable).parent / "supervisord"
    os.execv(supervisord, [str(supervisord), "-c", str(path)])


if __name__ == "__main__":
    main()
