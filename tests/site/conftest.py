"""The whole exchange behind a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

import config
from tests.processes import Process, free_port, wait_for_http
from tests.trading import create_market
from tools import fetch_site_assets

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--disable-dev-shm-usage"]
SCREENSHOTS = config.PROJECT_DIR / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def exchange(settings, tmp_path_factory):
    """web, site, matcher and scheduler on free ports; the site's origin and the API's URL."""
    fetch_site_assets.main()
    logs = tmp_path_factory.mktemp("site-processes")
    api_port, site_port = free_port(), free_port()
    site_url, api_url = f"http://127.0.0.1:{site_port}", f"http://127.0.0.1:{api_port}"
    processes = [
        Process("web", logs, PORT=str(api_port), SITE_ORIGIN=site_url, DEMO_MODE="true",
                RATE_LIMIT_PER_IP="100000/minute", RATE_LIMIT_PER_USER="100000/minute"),
        Process("site", logs, SITE_PORT=str(site_port), API_PUBLIC_URL=api_url),
        Process("matcher", logs),
        Process("scheduler", logs, DEMO_MODE="false"),
    ]
    wait_for_http(api_url + "/healthz", processes[0])
    wait_for_http(site_url + "/", processes[1])
    yield site_url, api_url
    for process in processes:
        assert process.stop() == 0, process.output()[-3000:]


@pytest.fixture
def market(admin_engine, settings):
    redis.Redis.from_url(settings.redis_url).flushdb()     # no rate-limit history
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20, min_notional="0.01")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed: make test installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, exchange):
    """A fresh browser context (another person) per call, in UTC, closed after the test."""
    contexts = []

    def make(width: int = 1280, height: int = 900):
        # (The HTTPS run behind nginx, tests/deploy, uses a self-signed pair.)
        context = browser.new_context(viewport={"width": width, "height": height},
                                      timezone_id="UTC", base_url=exchange[0],
                                      ignore_https_errors=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()
    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
