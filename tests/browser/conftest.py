"""Real Chromium (Debian's package, found on PATH) driven by Playwright, against daphne in its own process.

Playwright's own browser download is not used (and not reachable here): the
tests launch the system's `chromium`. Where there is none, every test in this
folder is skipped with a message saying so; CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.live_server import running_daphne

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Keeps Chromium from reaching for the network at start (it is closed here) and runs it as root.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_collection_modifyitems(config, items):
    if CHROMIUM:
        return
    skip = pytest.mark.skip(reason="no chromium on PATH: install Debian's chromium to run the browser tests")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module.

    Not per session: Playwright's sync API keeps an event loop running in the
    test thread while it is open, which other tests' async_to_sync refuses.
    While it runs, Django must be told that ORM calls from this thread are
    fine (they are: the test code is plain sequential code).
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live_server_url(transactional_db, tmp_path: Path) -> Iterator[str]:
    with running_daphne(tmp_path) as base:
        yield base


@pytest.fixture
def open_page(browser, live_server_url):
    """open_page(user, path, init_script=None) -> a Playwright page logged in as user at that path."""
    contexts = []

    def open_as(user, path: str = "/console/", init_script: str | None = None):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server_url,
                }
            ]
        )
        contexts.append(context)
        if init_script:  # runs in every document before the page's own scripts
            context.add_init_script(init_script)
        page = context.new_page()
        page.goto(live_server_url + path)
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Saved under tests/browser/screenshots/ (git-ignored) for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
