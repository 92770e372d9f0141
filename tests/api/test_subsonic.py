"""The OpenSubsonic facade under `/rest`: discovery (`ping`, `getLicense`, `getOpenSubsonicExtensions`), the
sonicSimilarity calls answering what `/v1` answers, API-key authentication only (error 42 for passwords and
tokens), metering and rate limits as on `/v1`, JSON and XML, GET and form POST, `.view` and bare names; and the
Subsonic error convention (HTTP 200, `status="failed"`) holding for every input under `/rest` and nowhere else,
checked by a property-based fuzz run (the schemathesis runs never see `/rest`: it is not in the OpenAPI document)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.b2b.plans import PLANS, Plan
from api.b2b.service import b2b_service_for
from api.db.session import session_factory, transaction
from api.subsonic.schemas import ERROR_CODES, XML_NS
from tests.api.conftest import PROBLEM
from tests.api.test_b2b import B2B, _settings, auth, running, seeds

NS = {"s": XML_NS}


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance, limits in process memory."""
    async with running(stack, _settings(stack, None), 1) as b:
        yield b


def ok(resp: httpx.Response) -> dict[str, Any]:
    """The `subsonic-response` of a JSON answer that succeeded."""
    assert resp.status_code == 200, resp.text
    body = resp.json()["subsonic-response"]
    assert body["status"] == "ok", body
    assert body["version"] == "1.16.1" and body["type"] == "MUSEED" and body["openSubsonic"] is True
    return dict(body)


def failed(resp: httpx.Response, code: int) -> dict[str, Any]:
    """The `error` of a JSON answer that failed with `code`: HTTP 200, never problem+json."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()["subsonic-response"]
    assert body["status"] == "failed", body
    assert body["error"]["code"] == code, body["error"]
    return dict(body["error"])


async def call(c: httpx.AsyncClient, name: str, key: str | None = None, method: str = "GET", **params: Any) -> Any:
    query = {"f": "json", "v": "1.16.1", "c": "museed-tests", **params}
    if key is not None:
        query["apiKey"] = key
    if method == "POST":  # the formPost extension: the parameters as a form body
        return await c.post(f"/rest/{name}", data=query)
    return await c.get(f"/rest/{name}", params=query)


async def test_a_client_discovers_the_server_before_and_after_authenticating(b2b: B2B) -> None:
    (c,) = b2b.clients
    # the extensions are listed without a key: that is how a client learns it must send apiKey
    body = ok(await call(c, "getOpenSubsonicExtensions"))
    names = {e["name"]: e["versions"] for e in body["openSubsonicExtensions"]}
    assert names["sonicSimilarity"] == [1] and names["apiKeyAuthentication"] == [1]
    key = b2b.key()
    for name in ("ping", "ping.view"):
        for method in ("GET", "POST"):
            assert ok(await call(c, name, key, method=method))
    assert ok(await call(c, "getLicense.view", key))["license"] == {"valid": True}
    # XML is Subsonic's default format
    xml = await c.get("/rest/getOpenSubsonicExtensions.view")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.text)
    assert root.tag == f"{{{XML_NS}}}subsonic-response" and root.get("status") == "ok"
    found = {
        e.get("name"): [v.text for v in e.findall("s:versions", NS)]
        for e in root.findall("s:openSubsonicExtensions", NS)
    }
    assert found["sonicSimilarity"] == ["1"]


async def test_only_api_keys_authenticate(b2b: B2B) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    failed(await call(c, "ping"), 10)  # no credentials at all
    # password and token authentication: not supported (Argon2 hashes cannot be turned back into passwords)
    error = failed(await call(c, "ping", u="demo", p="demo"), 42)
    assert "apiKey" in error["message"] and error["helpUrl"].endswith("/docs")
    failed(await call(c, "ping.view", u="demo", t="26719a1196d2a940705a59634eb18eab", s="c19b2d"), 42)
    failed(await call(c, "ping", key, u="demo"), 43)  # both at once
    failed(await call(c, "ping", key[:-1] + ("A" if key[-1] != "A" else "B")), 44)
    failed(await call(c, "ping", "msk_00000000_nothing"), 44)
    with transaction(session_factory(b2b.url)) as s:
        b2b_service_for(s).revoke_key(key.split("_")[0] + "_" + key.split("_")[1])
    failed(await call(c, "ping", key), 44)
    # the similarity calls need the recommend scope, as /v1 does
    trends_only = b2b.key(scopes=("trends",))
    assert ok(await call(c, "ping", trends_only))
    seed = seeds(b2b.stack, 0)[0]
    failed(await call(c, "getSonicSimilarTracks", trends_only, id=str(seed)), 50)


async def test_similar_tracks_are_the_v1_similar_tracks_with_a_0_1_similarity(b2b: B2B, stack: dict[str, Any]) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    seed = seeds(stack, 4)[0]
    v1 = (await c.get(f"/v1/tracks/{seed}/similar", params={"count": 7}, headers=auth(key))).json()
    for method in ("GET", "POST"):
        body = ok(await call(c, "getSonicSimilarTracks.view", key, method=method, id=str(seed), count="7"))
        matches = body["sonicMatch"]
        assert [m["entry"]["id"] for m in matches] == [str(r["track_id"]) for r in v1["results"]]
        for m, r in zip(matches, v1["results"], strict=True):
            assert m["similarity"] == pytest.approx((1 + r["score"]) / 2, abs=1e-5)
            assert 0.0 <= m["similarity"] <= 1.0
            entry = m["entry"]
            assert entry["title"] == r["title"] and entry["artist"] == r["artist"] and entry["isDir"] is False
            assert entry["artistId"] == str(r["artist_id"]) and entry["type"] == "music"
        sims = [m["similarity"] for m in matches]
        assert sims == sorted(sims, reverse=True)
    # default count 10; the free plan caps at 20
    assert len(ok(await call(c, "getSonicSimilarTracks", key, id=str(seed)))["sonicMatch"]) == 10
    assert len(ok(await call(c, "getSonicSimilarTracks", key, id=str(seed), count="500"))["sonicMatch"]) == 20
    # XML: sonicMatch elements, each with an entry child and its similarity
    xml = await c.get("/rest/getSonicSimilarTracks", params={"id": str(seed), "count": "3", "apiKey": key})
    root = ET.fromstring(xml.text)
    entries = root.findall("s:sonicMatch/s:entry", NS)
    assert [e.get("id") for e in entries] == [str(r["track_id"]) for r in v1["results"][:3]]
    assert all(0.0 <= float(m.get("similarity") or -1) <= 1.0 for m in root.findall("s:sonicMatch", NS))


async def test_find_sonic_path_is_the_sonic_path(b2b: B2B, stack: dict[str, Any]) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    start, end = seeds(stack, 2, 33)
    listener = (await c.get(f"/api/tracks/{start}/path/{end}", params={"steps": 6})).json()
    body = ok(await call(c, "findSonicPath", key, startSongId=str(start), endSongId=str(end), count="6"))
    matches = body["sonicMatch"]
    assert [m["entry"]["id"] for m in matches] == [str(t["track_id"]) for t in listener["tracks"]]
    assert matches[0]["entry"]["id"] == str(start) and matches[-1]["entry"]["id"] == str(end)
    assert matches[0]["similarity"] == pytest.approx(1.0, abs=1e-5)  # relative to the start song
    assert all(0.0 <= m["similarity"] <= 1.0 for m in matches)
    # default 25 songs, capped to the free plan's 20
    assert (
        len(ok(await call(c, "findSonicPath.view", key, startSongId=str(start), endSongId=str(end)))["sonicMatch"])
        == 20
    )
    failed(await call(c, "findSonicPath", key, startSongId=str(start), endSongId=str(start)), 0)
    failed(await call(c, "findSonicPath", key, startSongId=str(start), endSongId=str(end), count="1"), 0)
    failed(await call(c, "findSonicPath", key, startSongId=str(start)), 10)


async def test_failures_are_subsonic_errors_not_problems(b2b: B2B, stack: dict[str, Any]) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    seed = seeds(stack, 0)[0]
    failed(await call(c, "getSonicSimilarTracks", key), 10)  # no id
    failed(await call(c, "getSonicSimilarTracks", key, id="999999999"), 70)  # no such track
    failed(await call(c, "getSonicSimilarTracks", key, id="al-12"), 70)  # not a library track id
    failed(await call(c, "getSonicSimilarTracks", key, id="99999999999999999999"), 70)
    failed(await call(c, "getSonicSimilarTracks", key, id=str(seed), count="many"), 0)
    error = failed(await call(c, "getMusicFolders", key), 0)  # not implemented here
    assert "getSonicSimilarTracks" in error["message"]
    # an unsupported format still gets a Subsonic answer (XML)
    resp = await c.get("/rest/ping", params={"f": "jsonp", "apiKey": key})
    assert resp.status_code == 200 and ET.fromstring(resp.text).find("s:error", NS).get("code") == "0"  # type: ignore[union-attr]
    # every path and method under /rest answers the Subsonic way, routed or not
    failed(await c.put("/rest/ping", params={"f": "json", "apiKey": key}), 0)
    failed(await c.get("/rest/ping/extra", params={"f": "json"}), 0)
    # the exception is /rest only: everywhere else errors stay problem+json
    assert (await c.get("/v1/tracks/999999999")).headers["content-type"] == PROBLEM


async def test_calls_are_metered_and_rate_limited_like_v1(b2b: B2B, stack: dict[str, Any]) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    seed = seeds(stack, 1)[0]
    for _ in range(2):
        resp = await call(c, "getSonicSimilarTracks", key, id=str(seed), count="3")
        assert ok(resp) and "RateLimit" in resp.headers
    ok(await call(c, "ping", key))
    failed(await call(c, "getSonicSimilarTracks", key, id="999999999"), 70)  # a failed call counts nothing
    rows = {r["endpoint"]: r["count"] for r in (await c.get("/v1/usage", headers=auth(key))).json()["rows"]}
    assert rows.get("subsonic.getSonicSimilarTracks") == 2 and "subsonic.ping" not in rows
    # a plan with a burst of one unit per second: the second call at once is refused, with Retry-After
    b2b.set_plans(
        {**PLANS, "free": Plan("free", burst_per_second=1, per_minute=60, per_day=100, per_month=3000, max_results=20)}
    )
    tight = b2b.key()
    first, second = await asyncio.gather(
        call(c, "getSonicSimilarTracks", tight, id=str(seed)), call(c, "getSonicSimilarTracks", tight, id=str(seed))
    )
    answers = sorted([first, second], key=lambda r: r.json()["subsonic-response"]["status"])
    error = failed(answers[0], 0)
    assert "rate limit" in error["message"] and int(answers[0].headers["Retry-After"]) >= 1
    assert ok(answers[1])


async def test_rest_is_not_in_the_openapi_document(b2b: B2B) -> None:
    (c,) = b2b.clients
    paths = (await c.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/rest")]


_NAMES = st.sampled_from(
    ["ping", "getLicense", "getOpenSubsonicExtensions", "getSonicSimilarTracks", "findSonicPath", "getSong", "x"]
)
_VALUES = st.one_of(st.text(max_size=12), st.integers(-5, 10**12).map(str), st.sampled_from(["", "json", "xml"]))
_PARAMS = st.dictionaries(
    st.sampled_from(["id", "count", "startSongId", "endSongId", "f", "u", "p", "t", "s", "v", "c", "apiKey", "zz"]),
    _VALUES,
    max_size=6,
)


@pytest.mark.parametrize("stack", [("sqlite", "lite")], indirect=True, ids=["sqlite+milvus-lite"])
def test_fuzzing_rest_always_answers_a_subsonic_envelope(stack: dict[str, Any]) -> None:
    """Random calls, parameters, formats and methods (a valid key swapped in for some): every answer is HTTP 200
    with a well-formed `subsonic-response` whose error code is a defined one, never problem+json, never a crash."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(settings=_settings(stack, None), track_index=stack["index"], encoder=stack["encoder"])
    with TestClient(app) as client:
        with transaction(session_factory(stack["settings"].sqlalchemy_url)) as s:
            org = b2b_service_for(s).create_org(f"fuzz-{uuid.uuid4().hex[:8]}")
            key = b2b_service_for(s).create_key(org.id, "pro", ["recommend"], "fuzz").key
        seed = str(int(stack["vectors"].track_ids[0]))

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(
            name=_NAMES,
            view=st.booleans(),
            method=st.sampled_from(["GET", "POST"]),
            params=_PARAMS,
            real_key=st.booleans(),
            real_id=st.booleans(),
        )
        def one(name: str, view: bool, method: str, params: dict[str, str], real_key: bool, real_id: bool) -> None:
            if real_key:
                params["apiKey"] = key
            if real_id:
                params.update({"id": seed, "startSongId": seed})
            path = f"/rest/{name}{'.view' if view else ''}"
            resp = client.post(path, data=params) if method == "POST" else client.get(path, params=params)
            assert resp.status_code == 200, (path, params, resp.text)
            assert not resp.headers["content-type"].startswith(PROBLEM)
            if params.get("f") == "json":
                body = resp.json()["subsonic-response"]
                status, error = body["status"], body.get("error")
            else:
                root = ET.fromstring(resp.text)
                assert root.tag == f"{{{XML_NS}}}subsonic-response"
                status, el = root.get("status"), root.find("s:error", NS)
                error = None if el is None else {"code": int(el.get("code") or -1), "message": el.get("message")}
            assert status in ("ok", "failed")
            if status == "failed":
                assert error is not None and error["code"] in ERROR_CODES, error
                assert "unexpected error" not in str(error["message"]), (path, params, error)

        one()
