"""Playwright (Python) driving Debian's chromium against `live_server`: the journeys a person takes in the admin.

Playwright cannot download a browser of its own on these machines, so the system's chromium is launched by path
(CHROMIUM_PATH, default /usr/bin/chromium). Without it every test here is skipped (and ./scripts/test says so).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections are refused on this network and it stalls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH, HEIGHT = 1400, 900
BROWSER_TEST_TIMEOUT = 300  # seconds, setup and teardown included (the slowest journey takes about 10 here)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "browser"
ADMIN_PASSWORD = "admin-pw-browser-1"
VIEWER_PASSWORD = "viewer-pw-browser-1"

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.browser)
            # Some Playwright calls (evaluate, closing a context) have no timeout of their own: a browser that stops
            # answering fails its test here, with the line it hung on, instead of stalling the whole suite.
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))
            if not os.access(CHROMIUM, os.X_OK):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """JavaScript errors the pages raised (a journey ends by checking there were none)."""
    return []


@pytest.fixture
def page(chromium: Any, live_server: Any, page_errors: list[str]) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT}, base_url=live_server.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture
def admin_user(transactional_db: Any) -> Any:
    return get_user_model().objects.create_superuser(username="admin", email="", password=ADMIN_PASSWORD)


@pytest.fixture
def viewer_user(transactional_db: Any) -> Any:
    from integrations.services.roles import role_viewer_grant

    user = get_user_model().objects.create_user(username="viewer", password=VIEWER_PASSWORD)
    role_viewer_grant(user=user)
    return user


def log_in(page: Any, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


def shot(page: Any, name: str) -> Path:
    """A 1,400 px wide screenshot kept under var/screenshots/browser/ (not committed) to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(path), full_page=height < 2400)
    return path


def messages(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("ul.messagelist li").all_inner_texts()]


def submit(page: Any, locator: Any) -> None:
    """Click a button that posts a form, and wait for the page it leads to."""
    with page.expect_navigation():
        locator.click()
