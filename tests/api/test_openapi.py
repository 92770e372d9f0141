"""The OpenAPI document at /docs lists every endpoint with the errors it can answer, as problem+json."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from museed.settings import Settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(database_url=f"sqlite:///{tmp / 'o.sqlite'}", milvus_uri=str(tmp / "m.db")))
    return dict(app.openapi())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), path, op) for path, ops in spec["paths"].items() for m, op in ops.items()]


def test_every_operation_documents_its_errors(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(spec):
        codes = set(op["responses"])
        params = op.get("parameters", [])
        needed = set()
        if params or "requestBody" in op:
            needed.add("422")  # validation
        if any(p["in"] == "path" for p in params):
            needed.add("404")  # ids that name nothing (or something private to someone else)
        if "security" in op:
            needed.add("401")  # a missing (required) or invalid bearer token
        if not needed <= codes:
            missing.append(f"{method} {path}: {sorted(needed - codes)}")
        assert op.get("summary") and op.get("description"), f"{method} {path} is not described"
    assert not missing, "undocumented error responses:\n" + "\n".join(missing)


def test_documented_errors_are_problem_json_and_reachable(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")) and path.startswith("/api/"):
                assert PROBLEM in response.get("content", {}), f"{method} {path} {code} is not problem+json"
        # 401 only where a bearer token is read at all
        if "401" in op["responses"] and not path.startswith("/api/auth/"):
            assert "security" in op, f"{method} {path} documents 401 but reads no token"


def test_specific_refusals_are_documented(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert "429" in paths["/api/auth/login"]["post"]["responses"]  # login throttling
    assert {"413", "422", "503"} <= set(paths["/api/uploads"]["post"]["responses"])  # bounded uploads
    assert "503" in paths["/api/playlists"]["post"]["responses"]  # no vector index
    assert {"403", "404"} <= set(paths["/api/playlists/{playlist_id}"]["patch"]["responses"])
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "404" in paths["/api/playlists"]["post"]["responses"]  # a seed upload that is not the caller's
    assert "503" in paths["/api/playlists/{playlist_id}/refresh"]["post"]["responses"]  # Milvus down


def test_b2b_routes_have_their_tag_key_auth_limits_and_body_examples(spec: dict[str, Any]) -> None:
    v1 = {(m, p): op for m, p, op in operations(spec) if p.startswith("/v1/") and not p.startswith("/v1/orgs/")}
    assert {p for _, p in v1} == {
        "/v1/recommendations",
        "/v1/recommendations/batch",
        "/v1/recommendations/text",
        "/v1/tracks/{track_id}",
        "/v1/tracks/{track_id}/similar",
        "/v1/tracks/{track_id}/path/{to_track_id}",
        "/v1/meta",
        "/v1/usage",
        "/v1/trends",
        "/v1/trends/chart",
    }
    schemas = spec["components"]["schemas"]
    for (_, path), op in v1.items():
        assert op["tags"] == ["b2b"] and {"401", "403", "429", "503"} <= set(op["responses"]), path
        assert {"ApiKeyBearer", "ApiKeyHeader"} <= {name for s in op["security"] for name in s}, path
        for code in ("401", "403", "429", "503"):
            assert PROBLEM in op["responses"][code]["content"], f"{path} {code}"
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[ref].get("examples"), f"{path}: body without examples"


def test_every_route_but_liveness_documents_503_with_retry_after(spec: dict[str, Any]) -> None:
    # admission control, an unreachable database or vector index: any route that does work can answer 503
    for method, path, op in operations(spec):
        if path == "/healthz":
            assert "503" not in op["responses"]
            continue
        assert "503" in op["responses"], f"{method} {path} does not document 503"
        if path.startswith("/api/"):
            assert "Retry-After" in op["responses"]["503"].get("headers", {}), f"{method} {path}"


def test_docs_page_is_served(tmp_path: Any) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'd.sqlite'}", milvus_uri=str(tmp_path / "m.db"), serve_uploads=False
    )
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "MUSEED"
