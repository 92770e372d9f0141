"""Every response keeps the OpenAPI document's promises: timestamps are RFC 3339 date-times with their zone on
every database, malformed bodies are the documented 422, and every status the API answers is documented for
the route that answered it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from api.db.models import User
from api.db.session import session_factory, transaction
from tests.api.conftest import signed_in

PROBLEM = "application/problem+json"
#: RFC 3339 `date-time`: a full date, a time and a zone ("Z" or an offset), nothing left naive
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
TIMESTAMP_KEYS = {"created_at", "updated_at", "awarded_at"}


def timestamps(body: Any) -> list[str]:
    """Every timestamp field anywhere in a JSON body."""
    if isinstance(body, dict):
        found = [v for k, v in body.items() if k in TIMESTAMP_KEYS and isinstance(v, str)]
        return found + [t for v in body.values() for t in timestamps(v)]
    if isinstance(body, list):
        return [t for v in body for t in timestamps(v)]
    return []


def test_timestamps_are_stored_in_utc_and_read_back_aware(db_url: str) -> None:
    factory = session_factory(db_url)
    plus_two = datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 12, 1, 9, 30)
    with transaction(factory) as s:
        s.add(User(id="a" * 32, email="a@example.org", password_hash="x", display_name="A", created_at=plus_two))
        s.add(User(id="b" * 32, email="b@example.org", password_hash="x", display_name="B", created_at=naive))
        s.add(User(id="c" * 32, email="c@example.org", password_hash="x", display_name="C"))
    with factory() as s:
        a, b, c = (s.get(User, ch * 32) for ch in "abc")
        assert a is not None and b is not None and c is not None
        assert a.created_at.tzinfo is not None and a.created_at.utcoffset() == timedelta(0)
        assert a.created_at == plus_two  # the same instant, now in UTC
        assert b.created_at == naive.replace(tzinfo=UTC)  # naive values are taken as UTC
        assert c.created_at.tzinfo is not None
        # comparisons with aware values work on both databases
        assert s.query(User).filter(User.created_at < datetime(2026, 12, 1, 9, 0, tzinfo=UTC)).count() == 1


async def test_timestamps_carry_their_zone_in_every_response(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    seed = int(stack["vectors"].track_ids[0])
    made = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"})
    me = (await client.get("/api/users/me")).json()
    bodies = [
        made.json(),
        (await client.get(f"/api/playlists/{pid}")).json(),
        (await client.get("/api/playlists")).json(),
        (await client.get("/api/feed")).json(),
        me,
        (await client.get(f"/api/users/{me['id']}")).json(),
        (await client.get(f"/api/users/{me['id']}/badges")).json(),
    ]
    found = [t for body in bodies for t in timestamps(body)]
    assert len(found) >= 8, found  # playlists, profiles and badges all carry some
    bad = [t for t in found if not RFC3339.match(t)]
    assert not bad, f"timestamps without a zone: {bad}"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/auth/signup"), ("POST", "/api/auth/refresh"), ("PATCH", "/api/playlists/{pid}")],
)
@pytest.mark.parametrize("body", [b"\xff\xfe not utf-8", b'{"title": ', b"[1, 2"], ids=["not-utf8", "cut", "array"])
async def test_malformed_json_bodies_are_a_documented_422(
    client: httpx.AsyncClient, stack: dict[str, Any], method: str, path: str, body: bytes
) -> None:
    if "{pid}" in path:
        seed = int(stack["vectors"].track_ids[1])
        made = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})
        path = path.format(pid=made.json()["id"])
    resp = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["status"] == 422 and problem["errors"] and problem["errors"][0]["loc"][0] == "body"


def _template(spec_paths: list[str], path: str) -> str | None:
    """The OpenAPI path template a concrete path was served by (literal segments win over parameters)."""
    matches = [p for p in spec_paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path)]
    return min(matches, key=lambda p: p.count("{")) if matches else None


async def test_every_status_observed_is_documented_for_its_route(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    from api.app import create_app

    spec = create_app(stack["settings"]).openapi()
    seen: list[tuple[str, str, int]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    client.event_hooks["response"].append(record)
    seed = int(stack["vectors"].track_ids[3])
    other = await signed_in(client, "other")
    anonymous = {"Authorization": ""}
    made = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})).json()
    pid = made["id"]
    me = (await client.get("/api/users/me")).json()
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/playlists", {"json": {"seed_upload_id": uuid.uuid4().hex}}),  # unknown upload: 404
        ("POST", "/api/playlists", {"json": {"seed_track_ids": [999_999_999]}}),  # unknown track: 422
        ("POST", "/api/playlists", {"json": {"seed_track_ids": [seed]}, "headers": anonymous}),  # 401
        ("GET", f"/api/playlists/{pid}", {"headers": other}),  # private: 404
        ("PATCH", f"/api/playlists/{pid}", {"json": {"visibility": "public"}}),
        ("PATCH", f"/api/playlists/{pid}", {"json": {"title": "x"}, "headers": other}),  # 403
        ("PUT", f"/api/playlists/{pid}/tracks", {"json": {"track_ids": [1]}}),  # foreign track: 422
        ("POST", f"/api/playlists/{pid}/refresh", {}),
        ("PUT", f"/api/playlists/{pid}/like", {"headers": other}),
        ("PUT", f"/api/playlists/{pid}/save", {"headers": other}),
        ("PUT", f"/api/users/{me['id']}/follow", {"headers": other}),
        ("PUT", f"/api/users/{me['id']}/follow", {}),  # yourself: 422
        ("GET", f"/api/users/{uuid.uuid4().hex}", {}),
        ("GET", f"/api/users/{me['id']}/badges", {}),
        ("GET", f"/api/users/{me['id']}/genres", {}),
        ("GET", "/api/tracks", {"params": {"q": "a"}}),
        ("GET", "/api/tracks/999999999", {}),
        ("GET", f"/api/tracks/{seed}", {}),
        ("GET", "/api/feed", {}),
        (
            "POST",
            "/api/auth/signup",
            {"json": {"email": me["email"], "password": "a long enough password", "display_name": "Twin"}},
        ),
        ("POST", "/api/auth/refresh", {"json": {"refresh_token": "nope"}}),
        ("GET", "/api/users/me", {"headers": {"Authorization": "Bearer nope"}}),
        ("GET", "/api/uploads", {}),
        ("DELETE", f"/api/uploads/{uuid.uuid4().hex}", {}),
        ("GET", f"/api/playlists/{pid}/export.xspf", {}),
        ("DELETE", f"/api/playlists/{pid}", {}),
    ]
    for method, path, kwargs in calls:
        await client.request(method, path, **kwargs)
    undocumented = []
    statuses = set()
    for method, path, status in seen:
        template = _template(list(spec["paths"]), path)
        assert template is not None, f"{method} {path} is not in the OpenAPI document"
        statuses.add(status)
        if str(status) not in spec["paths"][template][method.lower()]["responses"]:
            undocumented.append(f"{method} {template} -> {status}")
    assert not undocumented, "statuses answered but not documented:\n" + "\n".join(sorted(set(undocumented)))
    assert {200, 201, 204, 401, 403, 404, 409, 422} <= statuses  # the walk reached every kind of answer


async def test_out_of_range_ids_and_offsets_are_422_not_database_overflows(client: httpx.AsyncClient) -> None:
    # found by the fuzz suite: SQLite cannot hold these integers (500s), PostgreSQL's INTEGER track id neither
    for path in (
        "/api/tracks/99999999999999999999",
        "/api/tracks/2147483648/audio",
        "/api/playlists?offset=10000000000000000000000",
    ):
        resp = await client.get(path)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.headers["content-type"] == PROBLEM
    resp = await client.post("/api/playlists", json={"seed_track_ids": [10**20]})
    assert resp.status_code == 422, resp.text


async def test_a_wrong_method_answers_405_with_every_method_of_the_resource(client: httpx.AsyncClient) -> None:
    # found by the fuzz suite: the router named only the one route it tried in `Allow`
    resp = await client.request("PUT", f"/api/playlists/{uuid.uuid4().hex}")
    assert resp.status_code == 405 and resp.headers["content-type"] == PROBLEM
    assert set(resp.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    resp = await client.request("DELETE", "/api/playlists")
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST"}
