"""Regression tests behind docs/SECURITY.md that no domain suite held: cross-organisation key management (API1/API5),
mass assignment on every request body (API3), the raw-vector cap (API4), no outbound HTTP client in the API and the
Host allow-list (API7), no internals in a 500 (API8). The other points cite the domain suites."""

from __future__ import annotations

import ast
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.b2b.schemas import MAX_VECTOR_DIMENSION
from api.b2b.service import b2b_service_for
from api.db.migrate import upgrade
from api.db.session import session_factory, transaction
from museed.settings import Settings

API_DIR = Path(__file__).resolve().parents[2] / "api"
#: modules that open connections to URLs: none may be imported by the API (its only outbound calls are to the
#: configured PostgreSQL, Milvus and Redis, through their own clients)
HTTP_CLIENTS = {"requests", "httpx", "aiohttp", "urllib.request", "urllib3", "http.client", "pycurl", "websockets"}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    tmp = tmp_path_factory.mktemp("review")
    settings = Settings(database_url=f"sqlite:///{tmp / 'r.sqlite'}", milvus_uri=str(tmp / "m.db"), serve_uploads=False)
    upgrade(settings.sqlalchemy_url)
    with TestClient(create_app(settings)) as c:
        yield c, settings.sqlalchemy_url


def _sign_in(c: TestClient, name: str) -> tuple[str, dict[str, str]]:
    email = f"{name}@example.com"
    body = {"email": email, "password": "long enough password", "display_name": name}
    assert c.post("/api/auth/signup", json=body).status_code == 201
    login = c.post("/api/auth/login", json={"email": email, "password": body["password"]})
    return email, {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_an_org_admin_cannot_touch_another_orgs_keys(app_client: tuple[TestClient, str]) -> None:
    c, url = app_client
    email_a, admin_a = _sign_in(c, "admin-a")
    email_b, admin_b = _sign_in(c, "admin-b")
    with transaction(session_factory(url)) as s:
        b2b = b2b_service_for(s)
        org_a, org_b = b2b.create_org("Org A").id, b2b.create_org("Org B").id
        b2b.add_member(org_a, email_a, "admin")
        b2b.add_member(org_b, email_b, "admin")
        key_b = b2b.create_key(org_b, "free", ["recommend"])
    # admin of A, naming B's key under A's org or under B's: nothing about B's keys leaks or changes
    assert c.get(f"/v1/orgs/{org_b}/keys", headers=admin_a).status_code == 404
    assert c.post(f"/v1/orgs/{org_a}/keys/{key_b.prefix}/rotate", headers=admin_a).status_code == 404
    assert c.delete(f"/v1/orgs/{org_a}/keys/{key_b.prefix}", headers=admin_a).status_code == 404
    assert c.post(f"/v1/orgs/{org_b}/keys/{key_b.prefix}/rotate", headers=admin_a).status_code == 404
    assert c.delete(f"/v1/orgs/{org_b}/keys/{key_b.prefix}", headers=admin_a).status_code == 404
    assert c.post(f"/v1/orgs/{org_b}/keys", json={"plan": "free"}, headers=admin_a).status_code == 404
    assert c.get("/v1/meta", headers={"X-API-Key": key_b.key}).status_code == 200  # B's key still works
    listed = c.get(f"/v1/orgs/{org_b}/keys", headers=admin_b).json()
    assert [k["prefix"] for k in listed] == [key_b.prefix] and listed[0]["revoked_at"] is None


def test_unsigned_expired_and_incomplete_tokens_are_refused(app_client: tuple[TestClient, str]) -> None:
    c, _ = app_client
    _, me = _sign_in(c, "tokens")
    access = me["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(access, options={"verify_signature": False})
    key = Settings().secret_key.get_secret_value()  # the app's key: the same environment made both

    def b64(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    now = int(time.time())
    tokens = {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="HS256"),
        "no jti": jwt.encode({k: v for k, v in claims.items() if k != "jti"}, key, algorithm="HS256"),
        "HS512": jwt.encode(claims, key, algorithm="HS512"),
    }
    assert c.get("/api/users/me", headers=me).status_code == 200  # the genuine token works
    for name, token in tokens.items():
        resp = c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
        assert resp.headers["www-authenticate"] == "Bearer", name


def _request_schemas(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    schemas = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                ref = content["schema"].get("$ref")
                if ref and media == "application/json":
                    yield f"{method.upper()} {path}", schemas[ref.rsplit("/", 1)[1]]


def test_every_json_request_body_refuses_unknown_fields(app_client: tuple[TestClient, str]) -> None:
    c, _ = app_client
    spec = c.get("/openapi.json").json()
    bodies = list(_request_schemas(spec))
    assert len(bodies) >= 10, bodies  # the document lists the bodies this test is about
    open_bodies = [op for op, schema in bodies if schema.get("additionalProperties") is not False]
    assert not open_bodies, f"request bodies that accept unknown fields (mass assignment): {open_bodies}"
    # and the server enforces it: fields a listener must never set are refused, not ignored
    _, me = _sign_in(c, "mass-assign")
    for extra in ({"email": "other@example.com"}, {"id": "0" * 32}, {"password_hash": "x"}):
        resp = c.patch("/api/users/me", json={"bio": "hi", **extra}, headers=me)
        assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
    signup = {"email": "x@example.com", "password": "long enough password", "display_name": "x", "is_admin": True}
    assert c.post("/api/auth/signup", json=signup).status_code == 422
    assert c.get("/api/users/me", headers=me).json()["bio"] == ""  # the refused PATCHes changed nothing


def _imported_modules(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_api_has_no_outbound_http_client() -> None:
    found = []
    files = sorted(API_DIR.rglob("*.py"))
    assert len(files) > 30
    for file in files:
        for module in _imported_modules(ast.parse(file.read_text(encoding="utf-8"))):
            if module in HTTP_CLIENTS or module.split(".")[0] in HTTP_CLIENTS - {"urllib.request", "http.client"}:
                found.append(f"{file.relative_to(API_DIR.parent)}: {module}")
    assert not found, f"an HTTP client in the API is an SSRF surface; review it in docs/SECURITY.md: {found}"


def test_an_unexpected_error_answers_without_internals(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'e.sqlite'}", milvus_uri=str(tmp_path / "m.db"), serve_uploads=False
    )
    app = create_app(settings)

    def explode() -> None:
        raise RuntimeError("password=hunter2 at /srv/museed/secret.py line 7")

    app.add_api_route("/api/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/api/explode")
    assert resp.status_code == 500 and resp.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in resp.text and "secret.py" not in resp.text and "Traceback" not in resp.text
    assert resp.json()["detail"] == "an unexpected error occurred; it has been logged"
    # rendered outside the middlewares, it still carries the security headers
    assert resp.headers["x-content-type-options"] == "nosniff" and resp.headers["cache-control"] == "no-store"
    assert resp.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_raw_vector_longer_than_any_encoder_is_refused_by_the_schema(app_client: tuple[TestClient, str]) -> None:
    c, url = app_client
    vector = c.get("/openapi.json").json()["components"]["schemas"]["RecommendationRequest"]["properties"]["vector"]
    assert vector["anyOf"][0]["maxItems"] == MAX_VECTOR_DIMENSION == 2048
    with transaction(session_factory(url)) as s:
        b2b = b2b_service_for(s)
        key = b2b.create_key(b2b.create_org("Vectors").id, "pro", ["recommend"]).key
    headers = {"X-API-Key": key}
    for body in ({"vector": [0.5] * (MAX_VECTOR_DIMENSION + 1)}, {"queries": [{"vector": [0.5] * 100_000}]}):
        path = "/v1/recommendations/batch" if "queries" in body else "/v1/recommendations"
        resp = c.post(path, json=body, headers=headers)
        assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
        assert [e["type"] for e in resp.json()["errors"]] == ["too_long"], resp.text


def test_hosts_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'h.sqlite'}",
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
        allowed_hosts=["museed.example", "*.museed.example"],
    )
    upgrade(settings.sqlalchemy_url)
    with TestClient(create_app(settings), base_url="http://museed.example") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/tracks", headers={"Host": "eu.museed.example:8443"}).status_code == 200
        for host in ("evil.example", "museed.example.evil.example", "evil@museed.example", ""):
            for path in ("/api/tracks", "/v1/meta", "/", "/docs", "/api/playlists/0/export.m3u"):
                resp = c.get(path, headers={"Host": host})
                assert resp.status_code == 400, (host, path, resp.status_code)
                assert resp.headers["content-type"].startswith("application/problem+json")
                assert resp.json()["reason"] == "untrusted_host"
                assert resp.headers["x-content-type-options"] == "nosniff"  # the security headers are outside
    # the embedded default answers any Host (the proxy in front pins it, or MUSEED_ALLOWED_HOSTS does)
    with TestClient(create_app(settings.model_copy(update={"allowed_hosts": ["*"]}))) as c:
        assert c.get("/healthz", headers={"Host": "anything.example"}).status_code == 200
