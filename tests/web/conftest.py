"""Fixtures of the browser suite: the API test stack served by a live uvicorn, Debian's Chromium, and a page per
test guarded against console errors, failed requests and other origins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from api.app import create_app
from tests.api.conftest import live_server, stack  # noqa: F401  (the API suite's stack, built once for this package)
from tests.web.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PageGuard

#: a loaded CI machine (2 cores, several suites) can take seconds to make a playlist
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that opens a page is a browser test (marked, still in the default run)."""
    for item in items:
        if "open_page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def base_url(stack: dict[str, Any]) -> Iterator[str]:  # noqa: F811
    """The API and the web page on the test stack, served by uvicorn on a free port for the whole package."""
    app = create_app(settings=stack["settings"], track_index=stack["index"], encoder=stack["encoder"])
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; the suite skips (saying why) only when the binary is absent."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/bootstrap.sh as root (it installs Debian's chromium)")
    with sync_playwright() as p:
        yield _launch(p)


def _launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def open_page(browser: Browser, base_url: str) -> Iterator[Any]:
    """`open_page(**context_options)` -> (page, guard): a fresh browser context per call (its own storage, so
    its own listener); every guard must be clean when the test ends."""
    ARTIFACTS.mkdir(exist_ok=True)
    made: list[tuple[Any, PageGuard]] = []

    def make(**options: Any) -> tuple[Page, PageGuard]:
        context = browser.new_context(base_url=base_url, accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        guard = PageGuard(origin=base_url)
        guard.attach(page)
        made.append((context, guard))
        return page, guard

    yield make
    for context, guard in made:
        context.close()
        guard.assert_clean()
