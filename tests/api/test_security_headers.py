"""Security headers (docs/SECURITY.md, API8): every response says nosniff, no framing, no referrer; the web page runs
only this origin's script files; the docs pages only their own inline scripts, by hash; credentialed API answers
are never stored; HSTS only when configured; CORS closed unless an origin is listed."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.app import create_app
from api.db.migrate import upgrade
from api.headers import SecurityHeaders, inline_script_hashes
from museed.settings import Settings


def _settings(tmp_path: Path, **extra: object) -> Settings:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    return Settings(database_url=url, milvus_uri=str(tmp_path / "m.db"), serve_uploads=False, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = _settings(tmp_path_factory.mktemp("headers"))
    upgrade(settings.sqlalchemy_url)
    with TestClient(create_app(settings)) as c:
        yield c


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def _common(resp: httpx.Response) -> None:
    headers = resp.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert _directives(headers["content-security-policy"])["frame-ancestors"] == ["'none'"]
    assert "strict-transport-security" not in headers  # off unless configured for HTTPS


def test_the_page_runs_only_this_origins_script_files(client: TestClient) -> None:
    for path in ("/", "/web/js/main.js", "/web/app.css"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        _common(resp)
        csp = _directives(resp.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"], path
        assert csp["connect-src"] == ["'self'"] and csp["object-src"] == ["'none'"], path
    # the shell's only inline <script> is a JSON data block, which the policy need not (and does not) allow
    page = client.get("/").text
    tags = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert tags == ['<script type="application/json" id="museed-config">'], tags


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc"])
def test_docs_allow_exactly_their_own_inline_scripts(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    _common(resp)
    scripts = _directives(resp.headers["content-security-policy"])["script-src"]
    bodies = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", resp.text, re.DOTALL)
    expected = [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies]
    assert scripts == ["'self'", *expected]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert (path == "/redoc") == (not bodies)  # ReDoc's page has no inline script; the Swagger pages one each


def test_api_answers_load_nothing_and_credentialed_ones_are_never_stored(client: TestClient) -> None:
    health = client.get("/healthz")
    _common(health)
    assert _directives(health.headers["content-security-policy"])["default-src"] == ["'none'"]
    assert "cache-control" not in health.headers  # an anonymous, public answer: caching is the route's choice
    spec = client.get("/openapi.json")
    assert _directives(spec.headers["content-security-policy"])["default-src"] == ["'none'"]

    signup = {"email": "headers@example.com", "password": "correct horse battery", "display_name": "H"}
    assert client.post("/api/auth/signup", json=signup).status_code == 201
    login = client.post("/api/auth/login", json={"email": signup["email"], "password": signup["password"]})
    assert login.status_code == 200 and "access_token" in login.json()
    assert login.headers["cache-control"] == "no-store"  # tokens in the body, though the request carried none
    token = login.json()["access_token"]
    me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == signup["email"]
    assert me.headers["cache-control"] == "no-store"
    _common(me)
    refused = client.get("/api/users/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    keyed = client.get("/v1/meta", headers={"X-API-Key": "msk_unknown"})
    assert keyed.status_code == 401 and keyed.headers["cache-control"] == "no-store"
    assert keyed.headers["content-type"].startswith("application/problem+json")


def test_cors_is_closed_by_default(client: TestClient) -> None:
    preflight = client.options(
        "/api/tracks",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_listed_origins_get_cors_and_https_deployments_get_hsts(tmp_path: Path) -> None:
    settings = _settings(tmp_path, cors_allow_origins=["https://app.example"], hsts_max_age_seconds=31_536_000)
    with TestClient(create_app(settings)) as c:
        ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
        ok = c.options("/api/playlists", headers={"Origin": "https://app.example", **ask})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in ok.headers  # bearer tokens, no cookies
        assert ok.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        other = c.options("/api/playlists", headers={"Origin": "https://elsewhere.example", **ask})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        health = c.get("/healthz", headers={"Origin": "https://app.example"})
        assert health.headers["access-control-allow-origin"] == "https://app.example"
        assert "Retry-After" in health.headers["access-control-expose-headers"]


@pytest.mark.parametrize("origins", [["*"], ["https://app.example/"], ["app.example"], ["https://*.example"]])
def test_cors_origins_must_be_exact(tmp_path: Path, origins: list[str]) -> None:
    with pytest.raises(ValidationError, match="CORS origins"):
        _settings(tmp_path, cors_allow_origins=origins)


def _tiny_app() -> Starlette:
    async def cached(request: Request) -> Response:
        return JSONResponse({"ok": True}, headers={"Cache-Control": "public, max-age=60"})

    async def docs(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"<html><script>one()", b";</script><script src='/x.js'></script>", b"<script>two()</script>"):
                yield part

        return StreamingResponse(chunks(), media_type="text/html")

    app = Starlette(routes=[Route("/api/thing", cached), Route("/docs", docs)])
    app.add_middleware(SecurityHeaders)
    return app


def test_credentials_override_a_routes_caching_and_chunked_docs_are_hashed_whole() -> None:
    with TestClient(_tiny_app()) as c:
        assert c.get("/api/thing").headers["cache-control"] == "public, max-age=60"
        assert c.get("/api/thing", headers={"Authorization": "Bearer t"}).headers["cache-control"] == "no-store"
        assert c.get("/api/thing", headers={"X-API-Key": "msk_x"}).headers["cache-control"] == "no-store"
        docs = c.get("/docs")
        assert docs.text.startswith("<html><script>one();</script>")
        scripts = _directives(docs.headers["content-security-policy"])["script-src"]
        assert scripts == ["'self'", *inline_script_hashes(b"<script>one();</script><script>two()</script>")]
        assert len(scripts) == 3
