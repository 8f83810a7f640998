"""The served OpenAPI document matches the server: every route, and nothing else."""

import json
import re
import subprocess

import pytest
import redis
import requests
from openapi_spec_validator import validate

import config
from api.app import create_app
from tests.api.client import error_of
from tests.api.conftest import flush_rate_limits, signed_up


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """As everywhere, once the counts of the test before have reached Redis."""
    flush_rate_limits(settings, settled=True)


def served_routes(settings, engine):
    app, _ = create_app(settings, engine)
    routes = set()
    for route in app.routes:
        # The document itself, and the metrics for Prometheus, are not the public API.
        if route.method == "OPTIONS" or route.rule in ("/v1/openapi.json", "/v1/docs",
                                                       "/metrics"):
            continue
        routes.add((route.method, re.sub(r"<([a-z_]+)>", r"{\1}", route.rule)))
    return routes


def test_every_route_is_documented_and_every_documented_route_exists(api_url, settings, engine):
    document = requests.get(api_url + "/v1/openapi.json", timeout=10).json()
    validate(document)
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations}
    assert documented == served_routes(settings, engine)
    assert ("GET", "/v1/ws") in documented
    assert ("POST", "/v1/api-keys") in documented and ("GET", "/v1/balances") in documented


def test_the_docs_page_lists_the_operations(api_url):
    page = requests.get(api_url + "/v1/docs", timeout=10)
    assert page.status_code == 200 and "/v1/api-keys/{key_id}" in page.text


def test_cors_lets_in_only_the_website(api_url, settings):
    site = requests.options(api_url + "/v1/balances", timeout=10, headers={
        "Origin": settings.site_origin, "Access-Control-Request-Method": "GET"})
    assert site.status_code == 204
    assert site.headers["Access-Control-Allow-Origin"] == settings.site_origin
    assert "Authorization" in site.headers["Access-Control-Allow-Headers"]
    other = requests.options(api_url + "/v1/balances", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in other.headers
    get = requests.get(api_url + "/v1/markets", timeout=10, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in get.headers


def test_requests_from_one_address_are_limited_with_retry_after(settings, tmp_path):
    from tests.api.conftest import start_web

    web, base_url = start_web(tmp_path, RATE_LIMIT_PER_IP="5/minute")
    redis.Redis.from_url(settings.redis_url).flushdb()  # forget the start-up probe
    try:
        statuses = [requests.get(base_url + "/v1/markets", timeout=10).status_code
                    for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = requests.get(base_url + "/v1/markets", timeout=10)
        assert error_of(limited)[:2] == (429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    finally:
        assert web.stop() == 0


def test_concurrent_requests_are_each_counted_once_even_after_redis_forgets_its_scripts(
        settings, tmp_path):
    """Concurrent requests share Redis round trips (api.coalesced.Coalesced): each is
    still counted once, and a Redis that forgot the limiter's script (a restart) neither
    fails a request nor lets one through uncounted."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.api.conftest import start_web

    web, base_url = start_web(tmp_path, RATE_LIMIT_PER_IP="30/minute")
    store = redis.Redis.from_url(settings.redis_url)
    store.flushdb()  # forget the start-up probe
    try:
        def get(_: int) -> int:
            return requests.get(base_url + "/v1/markets", timeout=10).status_code

        with ThreadPoolExecutor(12) as pool:
            first = list(pool.map(get, range(20)))
            store.script_flush()
            second = list(pool.map(get, range(16)))
        assert sorted(first) == [200] * 20
        assert sorted(second) == [200] * 10 + [429] * 6
    finally:
        assert web.stop() == 0


def test_requests_go_on_when_redis_drops_the_web_process_connections(api_url, settings):
    """As after a Redis restart: the rate limiter's connection is made afresh, and no
    request fails."""
    store = redis.Redis.from_url(settings.redis_url)
    assert requests.get(api_url + "/v1/markets", timeout=10).status_code == 200
    assert store.client_kill_filter(_type="normal", skipme=True) >= 1
    statuses = [requests.get(api_url + "/v1/markets", timeout=10).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 200]


def test_a_server_error_shows_a_request_id_and_no_trace_and_is_logged(settings, caplog):
    import wsgiref.util

    import bottle

    from api.app import JsonApi

    app = bottle.Bottle(catchall=True)
    app.install(JsonApi(settings))
    app.route("/boom", "GET", lambda: 1 / 0)
    response = {}

    def start_response(status, headers, exc_info=None):
        response.update(status=status, headers=dict(headers))

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/boom"}
    wsgiref.util.setup_testing_defaults(environ)
    body = b"".join(app(environ, start_response))
    request_id = response["headers"]["X-Request-Id"]
    assert response["status"].startswith("500")
    assert b"ZeroDivisionError" not in body and b"Traceback" not in body
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert request_id in json.loads(body)["error"]["message"]
    assert any(request_id in record.getMessage() and record.exc_info
               for record in caplog.records)


def test_fuzzing_the_documented_api_finds_no_server_error_and_no_drift(api_url, tmp_path):
    client = signed_up(api_url)
    command = [str(config.PROJECT_DIR / ".venv" / "bin" / "schemathesis"), "run",
               f"{api_url}/v1/openapi.json", "--checks", "all", "--max-examples", "25",
               "--seed", "1", "--no-shrink", "-H", f"Authorization: Bearer {client.token}",
               "--exclude-checks", "ignored_auth,unsupported_method,positive_data_acceptance",
               "--request-timeout", "10",
               # Logging out would end the fuzzer's own session (tested on its own elsewhere).
               "--exclude-operation-id", "log_out"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
