"""``python -m bench.cluster [--clients 4] [--phase-seconds 5] [--fault-seconds 9]
[--matcher-fault unplug|kill]`` (root):
build the cluster in network namespaces, run the load and the faults through it, print the
figures, tear it all down. Exit status 1 when anything was lost or did not hold, 2 when
namespaces cannot be made here."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import config
from bench.cluster import scenario
from bench.cluster.build import build
from bench.cluster.hosts import machine_lock, namespaces_allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster")
    parser.add_argument("--clients", type=int, default=4, help="bots, a thread each")
    parser.add_argument("--phase-seconds", type=float, default=5,
                        help="load direct, then through the edge, for this long each")
    parser.add_argument("--fault-seconds", type=float, default=9,
                        help="load through the edge while web1 and a matcher host die")
    parser.add_argument("--matcher-fault", choices=("unplug", "kill"), default="unplug",
                        help="the leading matcher host's link down and its processes "
                             "killed, or only killed")
    parser.add_argument("--var-dir", default=str(config.PROJECT_DIR / "var" / "cluster"))
    options = parser.parse_args(argv)
    refused = namespaces_allowed()
    if refused:
        print(refused, file=sys.stderr)
        return 2
    # A SIGTERM unwinds like Ctrl-C: the cluster is torn down on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with machine_lock():
        cluster = build(Path(options.var_dir))
        try:
            built = time.monotonic() - started
            results = scenario.run(cluster, clients=options.clients,
                                   phase_seconds=options.phase_seconds,
                                   fault_seconds=options.fault_seconds,
                                   unplug=options.matcher_fault == "unplug")
        finally:
            cluster.close()
    results["build_seconds"] = round(built, 1)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    report(results)
    failed = scenario.failures(results)
    for failure in failed:
        print(f"FAILED: {failure}")
    print("RESULT " + json.dumps(results, default=str))
    return 1 if failed else 0


def report(results: dict) -> None:
    lag = results["replica_lag"]
    direct, edge = results["orders_per_second_direct"], results["orders_per_second_edge"]
    print(f"orders/s with {results['clients']} bots, {results['phase_seconds']} s phases "
          f"alternated: direct to the web hosts {direct}, through nginx and TLS {edge} "
          f"(edge / direct: {sum(edge) / max(sum(direct), 1e-9):.2f}); p50/p99 ms direct "
          f"{results['latency_ms_p50_p99_direct']}, edge {results['latency_ms_p50_p99_edge']}")
    print(f"web1 killed ({results['web1_processes_killed']} processes): "
          f"{results['acknowledged_after_web1_killed']} orders acknowledged through web2 "
          f"in the next seconds")
    print(f"matcher host {results['matcher_host_killed']} {results['matcher_fault']} (led "
          f"{results['leaders_before']}): the standby {results['standby']}'s first batch "
          f"after {results['failover_seconds']} s (bound {results['failover_seconds_bound']} s)")
    print(f"replica lag under load: median {lag['bytes_median']} B, max {lag['bytes_max']} B "
          f"of WAL; replay_lag median {lag['replay_lag_ms_median']} ms, max "
          f"{lag['replay_lag_ms_max']} ms ({lag['samples']} samples)")
    print(f"market data through the edge: answers {results['market_data_reads']}; on the "
          f"replica before the faults {results['replica_sessions_before_faults']}, after "
          f"{results['replica_sessions']}")
    print(f"orders: {results['orders_sent']} sent, {results['orders_acknowledged']} "
          f"acknowledged, {results['orders_given_up']} given up, {results['retries']} "
          f"retries, answers {results['answers']}, refusals {results['refusals']}")
    print(f"lost {results['lost_count']}, twice {len(results['twice'])}, unprocessed "
          f"{len(results['unprocessed'])}; trades {results['trades']} equal to the replay: "
          f"{results['trades_equal_replay']}; reconcile: "
          f"{results['reconcile_discrepancies'] or 'clean'}")
    print(f"built in {results['build_seconds']} s, all in {results['total_seconds']} s")


if __name__ == "__main__":
    sys.exit(main())
