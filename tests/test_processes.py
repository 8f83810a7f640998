"""Every process of the Procfile starts, does its job, and stops cleanly on SIGTERM."""

import json
import signal
import time

import pytest

from tests.processes import Process, free_port, get, wait_for_http


@pytest.fixture
def log_dir(tmp_path):
    return tmp_path


def test_web_answers_and_stops_cleanly(settings, log_dir):
    port = free_port()
    web = Process("web", log_dir, PORT=str(port))
    wait_for_http(f"http://127.0.0.1:{port}/healthz", web)
    assert get(f"http://127.0.0.1:{port}/healthz") == (200, b'{"status":"ok"}')
    assert get(f"http://127.0.0.1:{port}/readyz") == (200, b'{"status":"ready"}')
    status, body = get(f"http://127.0.0.1:{port}/no/such/path")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert web.stop() == 0


def test_site_serves_the_page_and_where_the_api_is(settings, log_dir):
    port = free_port()
    site = Process("site", log_dir, SITE_PORT=str(port), API_PUBLIC_URL="http://api.test:1")
    wait_for_http(f"http://127.0.0.1:{port}/", site)
    status, page = get(f"http://127.0.0.1:{port}/")
    assert status == 200 and b"<title>Exchange</title>" in page
    assert get(f"http://127.0.0.1:{port}/config.js") == (
        200, b"window.EXCHANGE_API = 'http://api.test:1';\n")
    assert site.stop() == 0


def test_the_worker_consumes_its_queue_and_stops_cleanly(settings, log_dir):
    from workers.tasks import ping

    worker = Process("worker", log_dir)
    worker.wait_for_output("ready for action")
    ping.send("hello-worker")
    worker.wait_for_output("hello-worker")
    assert worker.stop() == 0


def test_the_matcher_wakes_up_matches_and_stops_cleanly(settings, engine, admin_engine,
                                                        log_dir):
    from tests.trading import create_market, funded_user, order_row, place
    from events.publishing import wake

    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="1")
    buyer = funded_user(engine, market, quote="100")
    sell = place(engine, seller, market, side="sell", type="limit", quantity="1", price="10.00")
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="1", price="10.00")
    matcher = Process("matcher", log_dir)
    matcher.wait_for_output("ready for action")
    wake(market)
    matcher.wait_for_output(f"{market}: processed 2 requests")
    assert order_row(engine, sell["id"]).status == order_row(engine, buy["id"]).status == \
        "filled"
    assert matcher.stop() == 0


def test_one_scheduler_leads_another_stands_by_and_takes_over(settings, log_dir):
    leader = Process("scheduler", log_dir)
    leader.wait_for_output("reconciliation: ledger clean")
    standby = Process("scheduler", log_dir)
    standby.wait_for_output("standing by")
    leader.stop(signal.SIGKILL)
    standby.wait_for_output("leading", timeout=15)
    standby.wait_for_output("reconciliation: ledger clean")
    assert standby.stop() == 0
    assert "stopped" in standby.output()


def test_every_process_serves_metrics_and_logs_json_lines(settings, engine, admin_engine,
                                                         log_dir):
    from tests.trading import create_market, funded_user, place
    from events.publishing import wake

    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="1")
    ports = {name: free_port() for name in ("web", "matcher", "scheduler", "worker")}
    processes = {name: Process(name, log_dir, PORT=str(port)) for name, port in ports.items()}
    try:
        wait_for_http(f"http://127.0.0.1:{ports['web']}/healthz", processes["web"])
        for name in ("matcher", "scheduler", "worker"):
            wait_for_http(f"http://127.0.0.1:{ports[name]}/metrics", processes[name])
        place(engine, seller, market, side="sell", type="limit", quantity="1", price="10.00")
        wake(market)

        def metric(process, line_start):
            _, body = get(f"http://127.0.0.1:{ports[process]}/metrics")
            return [line for line in body.decode().splitlines() if line.startswith(line_start)]
        deadline = time.monotonic() + 20
        while not metric("matcher", f'exchange_match_seconds_count{{market="{market}"}} 1'):
            assert time.monotonic() < deadline, "the matcher never observed the order"
            time.sleep(0.2)
        get(f"http://127.0.0.1:{ports['web']}/v1/markets")
        assert metric("web", 'exchange_http_requests_total{method="GET",route="/v1/markets",'
                             'status="200"}')
        while not metric("scheduler", "exchange_reconciliation_last_run_timestamp_seconds "):
            assert time.monotonic() < deadline, "the scheduler never reconciled"
            time.sleep(0.2)
        assert metric("scheduler", 'exchange_queue_depth{queue="withdrawals"}')
        assert metric("scheduler", "exchange_reconciliation_discrepancies 0.0")
        assert metric("worker", "process_cpu_seconds_total")
    finally:
        for process in processes.values():
            assert process.stop() == 0
    for name, process in processes.items():
        lines = [json.loads(line) for line in process.output().splitlines()
                 if line.startswith("{")]
        assert lines and all({"time", "level", "logger", "process", "message"} <= set(entry)
                             for entry in lines), name
        assert {entry["process"] for entry in lines} == {name}
