"""Every process of the Procfile starts, does its job, and stops cleanly on SIGTERM."""

import json
import signal

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


@pytest.mark.parametrize("name, queue, actor, argument", [
    ("worker", "default", "ping", "hello-worker"),
    ("matcher", "matcher", "wake_matcher", "BTC-USDT"),
])
def test_dramatiq_processes_consume_their_queue_and_stop_cleanly(settings, log_dir, name,
                                                                 queue, actor, argument):
    process = Process(name, log_dir)
    process.wait_for_output("ready for action")
    module = __import__(f"workers.{'tasks' if name == 'worker' else 'matching'}",
                        fromlist=[actor])
    getattr(module, actor).send(argument)
    process.wait_for_output(argument)
    assert process.stop() == 0


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
