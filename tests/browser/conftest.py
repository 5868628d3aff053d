"""The web pages in a real browser (Debian's chromium, driven by Selenium) against a real
`backorders local` process, started the way tests/e2e starts it.

Without chromium the browser tests skip with the reason, except in CI (CI=true), where
they fail: `scripts/dev test` installs chromium when it can (as root).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import requests

from tests.browser.pages import viewport
from tests.e2e.local import Api, LocalProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
# Each run saves its screenshots under .build/; BACKORDERS_UPDATE_SCREENSHOTS=1 writes the
# README's copies in docs/screenshots/ instead.
SCREENSHOTS = ROOT / ("docs/screenshots" if os.environ.get("BACKORDERS_UPDATE_SCREENSHOTS") == "1" else ".build/screenshots")
WINDOW = (1200, 900)  # the viewport, and so the screenshots' size
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)


@pytest.fixture(scope="session")
def local_site():
    """One `backorders local` for the browser tests (pages and API on one origin)."""
    token = secrets.token_urlsafe(16)
    process = LocalProcess("--no-walkthrough", "--port", "0", f"--admin-token={token}")
    try:
        serving = process.wait_for(r"Serving on (http://127\.0\.0\.1:\d+)")
        aws = process.wait_for(r"embedded AWS\s+(http://127\.0\.0\.1:\d+)")
        api = Api(serving.group(1), token, aws.group(1))
        assert requests.get(api.url + "/v1/health", timeout=5).json() == {"status": "ok"}
        yield api
    finally:
        code = process.terminate()
    assert code == 0, f"exit status {code}\n{process.output()}\n{process.errors()}"
    process.cleanup()


def _missing_browser() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver (scripts/dev test does it as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: run scripts/dev setup"
    return None


@pytest.fixture(scope="session")
def chromium():
    problem = _missing_browser()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager reach the network
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium, local_site):
    """The browser on a fresh tab state: no key in sessionStorage, desktop size."""
    viewport(chromium, *WINDOW)
    chromium.get(local_site.url + "/panel/index.html")
    chromium.execute_script("sessionStorage.clear()")
    yield chromium


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
