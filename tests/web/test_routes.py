"""The page's routes without a browser: the shell carries the badge table, the docs pages name only this origin's
assets, the ReDoc bundle has no CDN address left, and the API's own paths are untouched."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.badges.service import RULES
from api.db.migrate import upgrade
from museed.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("web-routes")
    settings = Settings(database_url=f"sqlite:///{tmp / 'w.sqlite'}", milvus_uri=str(tmp / "m.db"), serve_uploads=False)
    upgrade(settings.sqlalchemy_url)
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_shell_carries_every_badge_and_loads_only_local_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    config = json.loads(re.search(r'id="museed-config">(.*?)</script>', page.text, re.DOTALL)[1])  # type: ignore[index]
    assert [b["badge"] for b in config["badges"]] == list(RULES)
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
        assert ref.startswith("/"), ref
        assert client.get(ref).status_code == 200, ref


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_name_only_this_origin(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(ref.startswith("/") for ref in refs), refs
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    assert "fonts.googleapis" not in page.text and "cdn.jsdelivr" not in page.text


def test_the_redoc_bundle_reaches_for_no_cdn(client: TestClient) -> None:
    bundle = client.get("/redoc/redoc.standalone.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert "cdn.redoc.ly" not in bundle.text


def test_the_api_paths_are_untouched(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "MUSEED"
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.get("/web/js/no-such-module.js").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not part of the API


def test_every_request_commits_before_its_answer_is_sent(client: TestClient) -> None:
    """The page reads what it has just written (a new playlist's page right after `POST /api/playlists`): the
    session dependency runs in function scope, so its commit precedes the answer (FastAPI's default, request
    scope, commits after the answer is sent; the browser suite saw a fresh playlist answer 404)."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    from api.deps import get_db

    def sessions(dependant: Dependant) -> Iterator[Dependant]:
        for sub in dependant.dependencies:
            if sub.call is get_db:
                yield sub
            yield from sessions(sub)

    def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            included = getattr(route, "original_router", None)  # how FastAPI >= 0.16x keeps an included router
            if included is not None:
                yield from api_routes(included.routes)

    found = [(r.path, d.scope) for r in api_routes(client.app.routes) for d in sessions(r.dependant)]  # type: ignore[attr-defined]
    assert len({path for path, _ in found}) > 20  # every domain's routes were reached
    assert found and all(scope == "function" for _, scope in found), [f for f in found if f[1] != "function"]
