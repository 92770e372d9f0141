"""The request-body cap (`api/bodylimit.py`): a declared or streamed body over the cap is a 413 problem before any
route reads it, multipart uploads get the upload limit, and bodies under the cap pass untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from api.bodylimit import BodySizeLimit
from api.db.migrate import upgrade
from museed.settings import Settings

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("bodylimit")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'b.sqlite'}",
        milvus_uri=str(tmp / "m.db"),
        serve_uploads=False,
        max_body_bytes=LIMIT,
        max_upload_bytes=LIMIT,
    )
    upgrade(settings.sqlalchemy_url)
    with TestClient(create_app(settings)) as c:
        yield c


def _is_413(resp: object) -> None:
    assert resp.status_code == 413, resp.text  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert body["status"] == 413 and str(LIMIT) in body["detail"] and body["reason"] == "too_large"


def test_a_declared_body_over_the_cap_is_refused_before_the_route(client: TestClient) -> None:
    padding = "x" * (LIMIT + 10)
    resp = client.post("/api/auth/signup", json={"email": "a@example.com", "password": padding, "name": "a"})
    _is_413(resp)
    assert resp.headers["x-content-type-options"] == "nosniff"  # the security headers still apply


def test_a_streamed_body_over_the_cap_is_refused_while_it_streams(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "b@example.com", "name": "b", "password": "'
        for _ in range(LIMIT // 1024 + 2):
            yield b"y" * 1024
        yield b'"}'

    resp = client.post("/api/auth/signup", content=chunks(), headers={"content-type": "application/json"})
    _is_413(resp)


def test_a_multipart_body_gets_the_upload_limit_plus_the_forms_room(client: TestClient) -> None:
    # over the JSON cap but within upload limit + overhead: the body limit lets it through to the route (401 here)
    resp = client.post("/api/uploads", files={"file": ("a.wav", b"\0" * (LIMIT + 1024), "audio/wav")})
    assert resp.status_code == 401, resp.text


def test_bodies_under_the_cap_pass_untouched() -> None:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"n": len(await request.body())})

    app = BodySizeLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), json_limit=100, multipart_limit=100)
    with TestClient(app) as c:
        assert c.post("/", content=b"z" * 100).json() == {"n": 100}
        assert c.post("/", content=iter([b"z" * 60, b"z" * 40])).json() == {"n": 100}
        over = c.post("/", content=iter([b"z" * 60, b"z" * 41]))
        assert over.status_code == 413  # a route reading the stream itself: the middleware answers
