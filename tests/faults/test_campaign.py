"""The short fault campaign (``bench.faults``): a minute of random crashes, pauses and
restarts of processes, PostgreSQL and Redis under load, and a checker that finds nothing
lost, doubled or wrong. The long runs are in bench/RESULTS.md."""

import subprocess
import sys

import config

SECONDS = 60
SEED = 7


def test_a_minute_of_faults_leaves_no_anomaly():
    run = subprocess.run([sys.executable, "-m", "bench.faults", "--seconds", str(SECONDS),
                          "--seed", str(SEED)], cwd=config.PROJECT_DIR, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    report = run.stdout[run.stdout.index("faults injected"):]
    assert "anomalies\n  none" in report, report
    injected = report[:report.index("operations")].splitlines()[1:]
    assert sum(int(line.split()[-1]) for line in injected) >= 5, report
