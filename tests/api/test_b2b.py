"""The B2B `/v1` API on real Redis: keys, scopes, recommendations equal to the listener playlists', batch, usage
per organisation, rate windows under 50 concurrent clients on two app instances, quotas at the UTC boundary, and
Redis stopped and restarted."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from api.app import create_app
from api.b2b.plans import PLANS, Plan
from api.b2b.service import b2b_service_for
from api.db.models import ApiKey
from api.db.session import session_factory, transaction
from museed.settings import Settings
from tests.api.conftest import PROBLEM, signed_in

REDIS_URL = "redis://127.0.0.1:6379/0"
HEADER_POLICY = re.compile(r'^"burst";q=\d+;w=1, "minute";q=\d+;w=60(, "day";q=\d+;w=86400, "month";q=\d+;w=\d+)?$')
HEADER_STATE = re.compile(r'^"burst";r=\d+;t=\d+, "minute";r=\d+;t=\d+(, "day";r=\d+;t=\d+, "month";r=\d+;t=\d+)?$')


@dataclass
class B2B:
    """Apps over one stack, sharing one Redis namespace, and a way to make organisations and keys."""

    stack: dict[str, Any]
    settings: Settings
    apps: list[FastAPI] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.settings.sqlalchemy_url

    def org(self) -> str:
        with transaction(session_factory(self.url)) as s:
            return b2b_service_for(s).create_org(f"org-{uuid.uuid4().hex[:8]}").id

    def key(self, org_id: str | None = None, plan: str = "free", scopes: tuple[str, ...] = ("recommend",)) -> str:
        org_id = org_id or self.org()
        with transaction(session_factory(self.url)) as s:
            return b2b_service_for(s).create_key(org_id, plan, list(scopes), "test").key

    def set_plans(self, plans: dict[str, Plan]) -> None:
        for app in self.apps:
            app.state.b2b_plans = plans

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        for app in self.apps:
            app.state.b2b_limiter.clock = clock


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def running(stack: dict[str, Any], settings: Settings, n: int) -> AsyncIterator[B2B]:
    """`n` app instances (like `n` API processes) over the stack's DB and index and one Redis."""
    b2b = B2B(stack=stack, settings=settings)
    contexts = []
    for _ in range(n):
        app = create_app(settings=settings, track_index=stack["index"], encoder=stack["encoder"])
        ctx = app.router.lifespan_context(app)
        await ctx.__aenter__()
        contexts.append(ctx)
        b2b.apps.append(app)
        b2b.clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://museed.test"))
    try:
        yield b2b
    finally:
        for c in b2b.clients:
            await c.aclose()
        for ctx in contexts:
            await ctx.__aexit__(None, None, None)


def _settings(stack: dict[str, Any], redis_url: str | None) -> Settings:
    prefix = f"museed-test-{uuid.uuid4().hex[:10]}"
    return stack["settings"].model_copy(update={"redis_url": redis_url, "redis_key_prefix": prefix})


def _drop_keys(url: str, prefix: str) -> None:
    r = redis.Redis.from_url(url)
    for k in r.scan_iter(f"{prefix}:*"):
        r.delete(k)


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """Two app instances sharing the real Redis at 127.0.0.1:6379 under a namespace of this test's own."""
    settings = _settings(stack, REDIS_URL)
    async with running(stack, settings, 2) as b:
        yield b
    _drop_keys(REDIS_URL, settings.redis_key_prefix)


def seeds(stack: dict[str, Any], *positions: int) -> list[int]:
    return [int(stack["vectors"].track_ids[p]) for p in positions]


async def test_key_lifecycle_shown_once_hashed_and_refused_at_once_everywhere(b2b: B2B) -> None:
    org_id = b2b.org()
    with transaction(session_factory(b2b.url)) as s:
        created = b2b_service_for(s).create_key(org_id, "free", ["recommend"], "ci")
    key = created.key
    assert key.startswith(created.prefix + "_") and re.fullmatch(r"msk_[0-9a-f]{8}", created.prefix)
    with transaction(session_factory(b2b.url)) as s:
        row = s.scalars(select(ApiKey).where(ApiKey.prefix == created.prefix)).one()
        assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest()
        stored = " ".join(str(getattr(row, c.name)) for c in ApiKey.__table__.columns)
        assert key not in stored and key.split("_", 2)[2] not in stored  # the secret is nowhere in the row
        listed = b2b_service_for(s).list_keys(org_id)
        assert [k.prefix for k in listed] == [created.prefix] and "key" not in listed[0].model_dump()

    a, b = b2b.clients
    assert (await a.get("/v1/meta", headers=auth(key))).status_code == 200
    assert (await b.get("/v1/meta", headers={"X-API-Key": key})).status_code == 200
    for bad in ({}, auth(key[:-1] + ("A" if key[-1] != "A" else "B")), auth("msk_00000000_nothing"), auth("x")):
        r = await a.get("/v1/meta", headers=bad)
        assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, bad
    # credentials that disagree are refused, not one of them picked (found by the /v1 fuzz run)
    for mixed in ({"X-API-Key": key, "Authorization": "Basic Zm9vOmJhcg=="}, {"X-API-Key": key, **auth("msk_x_y")}):
        r = await a.get("/v1/meta", headers=mixed)
        assert r.status_code == 401 and r.json()["reason"] == "conflicting_credentials", mixed
    assert (await a.get("/v1/meta", headers={"X-API-Key": key, **auth(key)})).status_code == 200
    # query dates are YYYY-MM-DD only (pydantic alone would read "0" as 1970-01-01)
    assert (await a.get("/v1/usage", params={"until": "0"}, headers=auth(key))).status_code == 422

    with transaction(session_factory(b2b.url)) as s:
        rotated = b2b_service_for(s).rotate_key(created.prefix)
    assert rotated.key != key and rotated.plan == "free" and rotated.scopes == ["recommend"]
    for c in (a, b):  # both "processes" refuse the old key on the very next request
        old = await c.get("/v1/meta", headers=auth(key))
        assert old.status_code == 401 and old.json()["reason"] == "revoked_key"
        assert (await c.get("/v1/meta", headers=auth(rotated.key))).status_code == 200
    with transaction(session_factory(b2b.url)) as s:
        b2b_service_for(s).revoke_key(rotated.prefix)
    for c in (a, b):
        assert (await c.get("/v1/meta", headers=auth(rotated.key))).status_code == 401


async def test_scopes_are_enforced(b2b: B2B) -> None:
    key = b2b.key(scopes=("trends",))
    c = b2b.clients[0]
    r = await c.post("/v1/recommendations", json={"seed_track_ids": seeds(b2b.stack, 1)}, headers=auth(key))
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    assert r.json()["reason"] == "missing_scope" and r.json()["scope"] == "recommend"
    assert (await c.get(f"/v1/tracks/{seeds(b2b.stack, 1)[0]}", headers=auth(key))).status_code == 403
    assert (await c.get("/v1/meta", headers=auth(key))).status_code == 200  # any key reads the meta
    usage = (await c.get("/v1/usage", headers=auth(key))).json()
    assert usage["rows"] == [{"day": usage["until"], "endpoint": "meta", "count": 1}]  # refusals count nothing


async def test_recommendations_are_the_listener_playlists(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    listener = await signed_in(c, "listener")
    key = b2b.key(plan="pro")
    options = {"max_per_artist": 1, "discovery": 0.3, "exclude_near_duplicates": True}
    for seed_ids in (seeds(stack, 3), seeds(stack, 1, 5, 9)):
        playlist = await c.post(
            "/api/playlists", json={"seed_track_ids": seed_ids, "size": 12, **options}, headers=listener
        )
        assert playlist.status_code == 201, playlist.text
        r = await c.post(
            "/v1/recommendations", json={"seed_track_ids": seed_ids, "count": 12, **options}, headers=auth(key)
        )
        assert r.status_code == 200, r.text
        body, expected = r.json(), playlist.json()
        got = [(t["track_id"], t["score"], t["why"]) for t in body["results"]]
        assert got == [(t["track_id"], t["score"], t["why"]) for t in expected["tracks"]]
        assert body["index_version"] == expected["recipe"]["collection"] is not None
        assert body["encoder_id"] == expected["recipe"]["encoder_id"]
        assert all(t["title"] and t["artist"] and "license" in t for t in body["results"])
        assert HEADER_POLICY.match(r.headers["RateLimit-Policy"]) and HEADER_STATE.match(r.headers["RateLimit"])

    # a mood filter reaches the same search
    seed_ids = seeds(stack, 2)
    filtered = {"seed_track_ids": seed_ids, "mood_style": "dreamy", "max_per_artist": None}
    playlist = await c.post("/api/playlists", json={**filtered, "size": 5}, headers=listener)
    r = await c.post("/v1/recommendations", json={**filtered, "count": 5}, headers=auth(key))
    if playlist.status_code == 201:
        assert [t["track_id"] for t in r.json()["results"]] == [t["track_id"] for t in playlist.json()["tracks"]]
    else:  # no dreamy track in this corpus: both refuse alike
        assert r.status_code == playlist.status_code == 422

    # the plan caps the count; a raw vector of the served dimension seeds too
    free = b2b.key()
    r = await c.post("/v1/recommendations", json={"seed_track_ids": seed_ids, "count": 50}, headers=auth(free))
    assert r.json()["count"] == PLANS["free"].max_results and r.json()["capped_by_plan"] is True
    vector = [float(x) for x in stack["vectors"].vectors[4]]
    r = await c.post("/v1/recommendations", json={"vector": vector, "count": 3}, headers=auth(key))
    assert r.status_code == 200 and r.json()["results"][0]["track_id"] == seeds(stack, 4)[0]
    r = await c.post("/v1/recommendations", json={"vector": vector[:-1], "count": 3}, headers=auth(key))
    assert r.status_code == 422 and r.json()["reason"] == "wrong_dimension"
    r = await c.post("/v1/recommendations", json={"seed_track_ids": [10**9]}, headers=auth(key))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM

    meta = (await c.get("/v1/meta", headers=auth(key))).json()
    assert meta["dimension"] == len(vector) and meta["index_version"] == body["index_version"]
    assert meta["catalog_size"] >= meta["indexed_tracks"] > 0 and {p["name"] for p in meta["plans"]} == set(PLANS)
    similar = await c.get(f"/v1/tracks/{seed_ids[0]}/similar?count=4", headers=auth(key))
    alone = await c.post("/v1/recommendations", json={"seed_track_ids": seed_ids, "count": 4}, headers=auth(key))
    assert similar.json()["results"] == alone.json()["results"]
    assert (await c.get("/v1/tracks/999999999/similar", headers=auth(key))).status_code == 404
    track = await c.get(f"/v1/tracks/{seed_ids[0]}", headers=auth(key))
    assert track.status_code == 200 and track.json()["track_id"] == seed_ids[0]


async def test_batch_answers_each_query_and_counts_each(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    key = b2b.key(plan="pro")  # the free plan's burst (5/s) would refuse some of the calls below
    queries = [
        {"seed_track_ids": seeds(stack, 1), "count": 5},
        {"seed_track_ids": seeds(stack, 2, 6), "count": 3, "max_per_artist": 1},
        {"vector": [float(x) for x in stack["vectors"].vectors[7]], "count": 4},
    ]
    r = await c.post("/v1/recommendations/batch", json={"queries": queries}, headers=auth(key))
    assert r.status_code == 200, r.text
    for q, answered in zip(queries, r.json()["queries"], strict=True):
        single = await c.post("/v1/recommendations", json=q, headers=auth(key))
        assert answered["results"] == single.json()["results"]
    assert (await c.post("/v1/recommendations/batch", json={"queries": []}, headers=auth(key))).status_code == 422
    too_many = {"queries": [queries[0]] * 51}
    assert (await c.post("/v1/recommendations/batch", json=too_many, headers=auth(key))).status_code == 422
    # one failing query fails the call and counts nothing
    bad = {"queries": [queries[0], {"seed_track_ids": [10**9]}]}
    assert (await c.post("/v1/recommendations/batch", json=bad, headers=auth(key))).status_code == 422
    rows = {row["endpoint"]: row["count"] for row in (await c.get("/v1/usage", headers=auth(key))).json()["rows"]}
    assert rows == {"recommendations.batch": 3, "recommendations": 3}


async def test_usage_equals_what_was_sent_and_is_private(b2b: B2B) -> None:
    stack = b2b.stack
    org_a, org_b = b2b.org(), b2b.org()
    a1, a2, b1 = b2b.key(org_a, plan="pro"), b2b.key(org_a, plan="pro"), b2b.key(org_b)
    sent = {"recommendations": 0, "tracks": 0, "meta": 0}
    for i in range(6):
        c, key = b2b.clients[i % 2], (a1, a2)[i % 2]
        assert (
            await c.post("/v1/recommendations", json={"seed_track_ids": seeds(stack, i)}, headers=auth(key))
        ).status_code == 200
        sent["recommendations"] += 1
        if i % 3 == 0:
            assert (await c.get(f"/v1/tracks/{seeds(stack, i)[0]}", headers=auth(key))).status_code == 200
            sent["tracks"] += 1
    assert (await b2b.clients[0].get("/v1/meta", headers=auth(a2))).status_code == 200
    sent["meta"] += 1
    assert (await b2b.clients[1].get("/v1/meta", headers=auth(b1))).status_code == 200

    usage_a = (await b2b.clients[1].get("/v1/usage", headers=auth(a1))).json()
    assert usage_a["org_id"] == org_a and {r["endpoint"]: r["count"] for r in usage_a["rows"]} == sent
    assert usage_a["total"] == sum(sent.values())
    usage_b = (await b2b.clients[0].get("/v1/usage", headers=auth(b1))).json()
    assert usage_b["org_id"] == org_b and [(r["endpoint"], r["count"]) for r in usage_b["rows"]] == [("meta", 1)]
    bad = await b2b.clients[0].get("/v1/usage?since=2026-02-01&until=2026-01-01", headers=auth(b1))
    assert bad.status_code == 422


async def _flood(b2b: B2B, key: str, path: str, n: int = 50) -> tuple[list[httpx.Response], float]:
    """`n` concurrent clients on one key, alternating between the app instances."""
    started = time.perf_counter()
    responses = await asyncio.gather(*(b2b.clients[i % 2].get(path, headers=auth(key)) for i in range(n)))
    return list(responses), time.perf_counter() - started


async def test_50_concurrent_clients_on_two_instances_get_exactly_the_allowance(b2b: B2B) -> None:
    track = seeds(b2b.stack, 0)[0]
    b2b.set_plans({"free": Plan("free", 1000, 20, 10_000, 100_000, 20)})
    org_id = b2b.org()
    key, reader = b2b.key(org_id), b2b.key(org_id)  # the flood uses up `key`'s minute: read usage with another
    responses, _ = await _flood(b2b, key, f"/v1/tracks/{track}")
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) == 20 and len(refused) == 30  # the minute window, shared through Redis: no more, no fewer
    for r in refused:
        assert r.headers["content-type"] == PROBLEM and int(r.headers["Retry-After"]) >= 1
        assert r.json()["reason"] == "rate_limited" and r.json()["window"] == "minute"
        assert HEADER_STATE.match(r.headers["RateLimit"]) and '"minute";r=0' in r.headers["RateLimit"]
    for r in ok:
        assert (
            HEADER_POLICY.match(r.headers["RateLimit-Policy"]) and '"minute";q=20;w=60' in r.headers["RateLimit-Policy"]
        )
    usage = (await b2b.clients[0].get("/v1/usage", headers=auth(reader))).json()
    assert usage["rows"][0]["count"] == 20 and usage["total"] == 20  # refused requests count nothing

    # the burst window: at most 5 per second, across both instances
    b2b.set_plans({"free": Plan("free", 5, 1000, 10_000, 100_000, 20)})
    key = b2b.key()
    responses, elapsed = await _flood(b2b, key, f"/v1/tracks/{track}")
    admitted = sum(r.status_code == 200 for r in responses)
    assert all(r.status_code in (200, 429) for r in responses)
    if elapsed < 1.0:
        assert admitted == 5
    else:  # the flood outlived one window: still never more than 5 in any second
        assert 5 <= admitted <= 5 * (int(elapsed) + 2)


async def test_quota_resets_at_the_utc_boundary_and_survives_lost_counters(b2b: B2B) -> None:
    b2b.set_plans({"free": Plan("free", 100, 1000, 3, 4, 20)})
    now = [datetime(2026, 3, 14, 23, 59, 58, tzinfo=UTC)]
    b2b.set_clock(lambda: now[0])
    key = b2b.key()
    c = b2b.clients
    for i in range(3):
        assert (await c[i % 2].get("/v1/meta", headers=auth(key))).status_code == 200
    over = await c[0].get("/v1/meta", headers=auth(key))
    assert over.status_code == 429 and over.json()["reason"] == "quota_exceeded" and over.json()["quota"] == "day"
    assert over.json()["reset_at"] == "2026-03-15T00:00:00+00:00" and over.headers["Retry-After"] == "2"

    # Redis forgets the counters (a restart without persistence): they are seeded again from the usage table
    _drop_keys(REDIS_URL, f"{b2b.settings.redis_key_prefix}:quota")
    assert (await c[1].get("/v1/meta", headers=auth(key))).json()["reason"] == "quota_exceeded"

    now[0] = datetime(2026, 3, 15, 0, 0, 0, tzinfo=UTC)  # the next UTC day
    ok = await c[1].get("/v1/meta", headers=auth(key))
    assert (
        ok.status_code == 200 and '"day";r=2;' in ok.headers["RateLimit"] and '"month";r=0;' in ok.headers["RateLimit"]
    )
    month = await c[0].get("/v1/meta", headers=auth(key))
    assert month.status_code == 429 and month.json()["quota"] == "month"
    assert month.json()["reset_at"] == "2026-04-01T00:00:00+00:00"
    usage = (await c[0].get("/v1/usage?since=2026-03-14&until=2026-03-15", headers=auth(key))).json()
    assert [(r["day"], r["count"]) for r in usage["rows"]] == [("2026-03-14", 3), ("2026-03-15", 1)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis() -> Iterator[dict[str, Any]]:
    """A Redis server of this test's own, on its own port, that the test may stop and start."""
    port = _free_port()
    server = {"port": port, "proc": _redis_server(port)}
    yield server
    server["proc"].kill()
    server["proc"].wait()


async def test_redis_stopped_fails_closed_fast_and_recovers_without_restart(
    stack: dict[str, Any], own_redis: dict[str, Any]
) -> None:
    settings = _settings(stack, f"redis://127.0.0.1:{own_redis['port']}/0")
    async with running(stack, settings, 1) as b2b:
        key = b2b.key()
        c = b2b.clients[0]
        assert (await c.get("/v1/meta", headers=auth(key))).status_code == 200
        own_redis["proc"].terminate()
        own_redis["proc"].wait()
        started = time.perf_counter()
        r = await c.get("/v1/meta", headers=auth(key))
        assert time.perf_counter() - started < 1.0
        assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
        assert r.headers["Retry-After"] == "1" and r.json()["reason"] == "limiter_unavailable"

        own_redis["proc"] = _redis_server(own_redis["port"])  # empty: it kept nothing on disk
        r = await c.get("/v1/meta", headers=auth(key))
        assert r.status_code == 200
        # the day's quota continued from the usage table: 2 answered (1 before the outage, this one)
        assert f'"day";r={PLANS["free"].per_day - 2};' in r.headers["RateLimit"]
        usage = (await c.get("/v1/usage", headers=auth(key))).json()
        assert usage["total"] == 2


async def test_without_redis_the_limits_live_in_memory(stack: dict[str, Any]) -> None:
    async with running(stack, _settings(stack, None), 1) as b2b:
        b2b.set_plans({"free": Plan("free", 1000, 7, 1000, 1000, 20)})
        key = b2b.key()
        responses = await asyncio.gather(*(b2b.clients[0].get("/v1/meta", headers=auth(key)) for _ in range(12)))
        assert sorted(r.status_code for r in responses) == [200] * 7 + [429] * 5


async def test_org_admins_manage_their_keys_over_http(b2b: B2B) -> None:
    c = b2b.clients[0]
    admin, member, outsider = [await signed_in(c, n) for n in ("admin", "member", "outsider")]
    org_id = b2b.org()
    me = {}
    for name, headers in (("admin", admin), ("member", member)):
        me[name] = (await c.get("/api/users/me", headers=headers)).json()
    with transaction(session_factory(b2b.url)) as s:
        svc = b2b_service_for(s)
        svc.add_member(org_id, me["admin"]["email"], "admin")
        svc.add_member(org_id, me["member"]["email"], "member")
    created = await c.post(f"/v1/orgs/{org_id}/keys", json={"plan": "free", "scopes": ["recommend"]}, headers=admin)
    assert created.status_code == 201, created.text
    key, prefix = created.json()["key"], created.json()["prefix"]
    assert (await c.get("/v1/meta", headers=auth(key))).status_code == 200
    listed = (await c.get(f"/v1/orgs/{org_id}/keys", headers=admin)).json()
    assert [k["prefix"] for k in listed] == [prefix] and "key" not in listed[0]
    assert (await c.get(f"/v1/orgs/{org_id}/keys", headers=member)).status_code == 403
    assert (await c.get(f"/v1/orgs/{org_id}/keys", headers=outsider)).status_code == 404
    rotated = await c.post(f"/v1/orgs/{org_id}/keys/{prefix}/rotate", headers=admin)
    assert rotated.status_code == 200 and (await c.get("/v1/meta", headers=auth(key))).status_code == 401
    new_prefix = rotated.json()["prefix"]
    assert (await c.delete(f"/v1/orgs/{org_id}/keys/{new_prefix}", headers=member)).status_code == 403
    assert (await c.delete(f"/v1/orgs/{org_id}/keys/{new_prefix}", headers=admin)).status_code == 200
    assert (await c.get("/v1/meta", headers=auth(rotated.json()["key"]))).status_code == 401


def test_utc_boundaries_of_the_quota_windows() -> None:
    from api.b2b.limits import _next_day, _next_month

    assert _next_day(datetime(2026, 12, 31, 12, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert _next_month(datetime(2026, 12, 31, 12, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert _next_month(datetime(2026, 2, 3, tzinfo=UTC)) - timedelta(seconds=1) == datetime(
        2026, 2, 28, 23, 59, 59, tzinfo=UTC
    )
