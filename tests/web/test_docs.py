"""The API's documentation pages work with every other origin blocked: Swagger UI and ReDoc come from a package."""

from __future__ import annotations

from typing import Any

from tests.web.browser import EMBEDDED_STACK, shot

pytestmark = EMBEDDED_STACK


def test_swagger_ui_renders_offline(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    page.goto(f"{base_url}/docs")
    page.get_by_role("heading", name="MUSEED").first.wait_for()
    # an operation from the document, expanded: Swagger UI parsed /openapi.json (OpenAPI 3.1) and rendered it
    page.get_by_text("Generate a playlist from 1..10 seed tracks or an upload").first.click()
    page.get_by_text("Request body").first.wait_for()
    assert page.evaluate("typeof window.SwaggerUIBundle") == "function"
    favicon = page.locator("link[rel~=icon]").first.get_attribute("href") or ""
    assert favicon.startswith("/web/"), favicon
    shot(page, "docs-swagger")
    guard.assert_clean()


def test_redoc_renders_offline(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    page.goto(f"{base_url}/redoc")
    page.get_by_role("heading", name="Generate a playlist from 1..10 seed tracks or an upload").first.wait_for()
    shot(page, "docs-redoc")
    guard.assert_clean()
