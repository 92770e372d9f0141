"""What every browser test shares: the stack they run on, a guard that fails a page on console errors, failed
requests or requests to other origins, and the screenshots kept as artifacts."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, Route

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
#: the flags that start Debian's Chromium headless in a container without reaching out to Google services
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: the browser suite runs on the embedded stack only (SQLite + Milvus Lite): the API suite covers the server pair
EMBEDDED_STACK = pytest.mark.parametrize("stack", [("sqlite", "lite")], indirect=True, ids=["sqlite+milvus-lite"])
PASSWORD = "a long enough password"
_FAILED_LOAD = re.compile(r"status of (\d{3})")


@dataclass
class PageGuard:
    """Records what a page did wrong: console errors, uncaught exceptions, failed or >= 400 requests, and
    requests to any other origin (which are aborted, so a page that needs the internet fails here)."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[tuple[int, str]] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    in_flight: set[Request] = field(default_factory=set)

    def attach(self, page: Page) -> None:
        """Listen to `page` (and block other origins on its context)."""
        page.context.route("**/*", self._route)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", lambda r: self.in_flight.add(r))
        page.on("requestfinished", lambda r: self.in_flight.discard(r))

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(self.origin) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort("blockedbyclient")

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _failed(self, request: Request) -> None:
        self.in_flight.discard(request)
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.bad_status.append((response.status, response.url))

    def reload(self, page: Page) -> None:
        """Reload once the page's requests have finished (a reload aborts those in flight: the test's doing)."""
        deadline, quiet_since = time.monotonic() + 15, time.monotonic()
        # quiet for 300 ms: a view that has just rendered may still be about to start its next request
        while time.monotonic() < deadline and (self.in_flight or time.monotonic() - quiet_since < 0.3):
            if self.in_flight:
                quiet_since = time.monotonic()
            page.wait_for_timeout(50)
        page.reload()

    def expect(self, status: int, path: str) -> None:
        """Allow one answer of `status` on a URL containing `path` (an error the test provokes on purpose)."""
        self.expected.append((status, path))

    def assert_clean(self) -> None:
        """No foreign or failed requests, no unexpected error statuses, no console errors beyond the browser's
        own note about an expected error status."""
        assert not self.foreign, f"requests to other origins: {self.foreign}"
        assert not self.failed, f"failed requests: {self.failed}"
        allowed = list(self.expected)
        unexpected = []
        for status, url in self.bad_status:
            match = next((e for e in allowed if e[0] == status and e[1] in url), None)
            if match is None:
                unexpected.append((status, url))
            else:
                allowed.remove(match)
        assert not unexpected, f"unexpected error responses: {unexpected}"
        statuses = {s for s, _ in self.bad_status}
        errors = [
            m
            for m in self.console_errors
            if not (
                (found := _FAILED_LOAD.search(m))
                and m.startswith("Failed to load resource")
                and int(found[1]) in statuses
            )
        ]
        assert not errors, f"console errors: {errors}"


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under tests/web/artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def new_email(name: str) -> str:
    """A fresh address per run (the stack's database lives as long as the test package)."""
    return f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org"


def sign_up(page: Page, base: str, name: str) -> dict[str, Any]:
    """Sign up through the form (it signs in too); returns the credentials."""
    creds = {"email": new_email(name), "password": PASSWORD, "name": name}
    page.goto(f"{base}/#/signup")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(creds["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("button", name="Log out").wait_for()
    return creds


def make_playlist(page: Page, base: str) -> str:
    """Create a playlist from the first library track offered as a seed; returns the playlist id."""
    page.goto(f"{base}/#/create")
    page.get_by_role("button", name=re.compile(r"^Add .+ as a seed$")).first.click()
    page.get_by_role("button", name="Make my playlist").click()
    page.get_by_role("list", name="Tracks").locator("li").first.wait_for()
    return page.url.rsplit("/", 1)[-1]


def tab_to(page: Page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible name starts with `name` (keyboard-only tests)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e) return "";
                const label = e.id && document.querySelector(`label[for="${e.id}"]`);
                return (e.getAttribute("aria-label") || (label && label.textContent) || e.textContent || "").trim();
            }"""
        )
        if str(focused).startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")
