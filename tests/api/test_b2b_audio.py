"""Audio-file seeds for `POST /v1/recommendations` (multipart, `upload` scope, 10 units) with the listener
uploads' limits and messages, and what a malformed request costs (nothing: it is refused before the limiter)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.b2b.plans import PLANS, UPLOAD_UNITS
from tests.api.conftest import PROBLEM, signed_in
from tests.api.test_b2b import B2B, _settings, auth, running, seeds


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance with the in-memory limiter."""
    async with running(stack, _settings(stack, None), 1) as b:
        yield b


def _reencoded(stack: dict[str, Any], tmp_path: Path, position: int) -> tuple[int, bytes]:
    """A library track re-encoded as FLAC with a gain change: (its track id, the file's bytes)."""
    import soundfile as sf

    tid = int(stack["catalog"].with_audio().index[position])
    audio, sr = sf.read(stack["catalog"].tracks.loc[tid, "audio_path"], dtype="float32")
    flac = tmp_path / "demo.flac"
    sf.write(flac, 0.8 * audio, sr, format="FLAC")
    return tid, flac.read_bytes()


def test_every_plan_admits_an_audio_seed_within_one_burst() -> None:
    assert UPLOAD_UNITS == 10
    assert all(p.upload_units <= p.burst_per_second for p in PLANS.values())


async def test_an_audio_seed_finds_its_track_and_costs_ten_units(b2b: B2B, tmp_path: Path) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    tid, flac = _reencoded(stack, tmp_path, 5)
    org = b2b.org()
    key, reader = b2b.key(org, scopes=("recommend", "upload")), b2b.key(org)  # the audio key's burst stays full
    options = json.dumps({"count": 3, "max_per_artist": None})
    r = await c.post(
        "/v1/recommendations",
        files={"file": ("demo.flac", flac, "audio/flac")},
        data={"options": options},
        headers=auth(key),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 3 and body["results"][0]["track_id"] == tid and body["results"][0]["score"] > 0.99
    assert body["encoder_id"] and body["index_version"]
    plan = PLANS["free"]
    state = r.headers["RateLimit"]
    assert (
        f'"minute";r={plan.per_minute - UPLOAD_UNITS};' in state and f'"day";r={plan.per_day - UPLOAD_UNITS};' in state
    )
    # one audio seed fills the free plan's burst window (10 units per second)
    r = await c.post("/v1/recommendations", files={"file": ("demo.flac", flac, "audio/flac")}, headers=auth(key))
    assert r.status_code == 429 and r.json()["window"] == "burst" and int(r.headers["Retry-After"]) >= 1
    await asyncio.sleep(1.05)
    # no options part: the defaults (count 20, capped by nothing on the free plan's 20)
    r = await c.post("/v1/recommendations", files={"file": ("demo.flac", flac, "audio/flac")}, headers=auth(key))
    assert r.status_code == 200 and r.json()["count"] == 20
    meta = (await c.get("/v1/meta", headers=auth(reader))).json()
    assert {p["name"]: p["upload_units"] for p in meta["plans"]} == {name: UPLOAD_UNITS for name in PLANS}
    usage = (await c.get("/v1/usage", headers=auth(reader))).json()
    assert {row["endpoint"]: row["count"] for row in usage["rows"]} == {"recommendations.audio": 20, "meta": 1}

    # the upload scope is needed, and refusing costs nothing
    plain = b2b.key(scopes=("recommend",))
    r = await c.post("/v1/recommendations", files={"file": ("demo.flac", flac, "audio/flac")}, headers=auth(plain))
    assert r.status_code == 403 and r.json()["scope"] == "upload" and "RateLimit" not in r.headers
    r = await c.post("/v1/recommendations", json={"seed_track_ids": seeds(stack, 5)}, headers=auth(plain))
    assert '"day";r=99;' in r.headers["RateLimit"]


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("empty.mp3", b""),
        ("notes.mp3", b"these are not the sounds you are looking for" * 50),
        ("huge.wav", b"\0" * (3 * 1024 * 1024)),
        ("script.exe", b"MZ" * 100),
    ],
)
async def test_bad_audio_gets_the_listener_uploads_answer(b2b: B2B, name: str, payload: bytes) -> None:
    c = b2b.clients[0]
    key = b2b.key(plan="pro", scopes=("recommend", "upload"))
    listener = await signed_in(c, "uploader")
    upload = await c.post("/api/uploads", files={"file": (name, payload, "application/octet-stream")}, headers=listener)
    r = await c.post(
        "/v1/recommendations", files={"file": (name, payload, "application/octet-stream")}, headers=auth(key)
    )
    assert upload.status_code in (413, 422) and r.headers["content-type"] == PROBLEM
    # the decoder names its in-memory file by address: the same message, up to that
    same = [(x.status_code, x.json()["reason"], re.sub(r"0x[0-9a-f]+", "0x", x.json()["detail"])) for x in (r, upload)]
    assert same[0] == same[1]
    usage = (await c.get("/v1/usage", headers=auth(key))).json()
    assert usage["total"] == 0  # a refused request counts no query


async def test_malformed_requests_take_nothing_from_the_rate_windows(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    key = b2b.key(scopes=("recommend", "upload"))
    burst = PLANS["free"].burst_per_second
    malformed: list[dict[str, Any]] = [
        {"content": b'{"seed_track_ids": [', "headers": {**auth(key), "Content-Type": "application/json"}},
        {"json": {"seed_track_ids": [], "count": 5}},
        {"json": {"seed_track_ids": seeds(stack, 1), "count": 0}},
        {"data": {"options": "{}"}, "files": {"other": ("x.txt", b"x", "text/plain")}},
        {"files": {"file": ("a.wav", b"RIFF", "audio/wav")}, "data": {"options": '{"count": '}},
        {"files": {"file": ("a.wav", b"RIFF", "audio/wav")}, "data": {"options": '{"tempo": "fast"}'}},
        {"files": {"file": ("a.wav", b"RIFF", "audio/wav"), "more": ("b.wav", b"RIFF", "audio/wav")}},
        {"content": b"--x\r\nbroken", "headers": {**auth(key), "Content-Type": "multipart/form-data; boundary=x"}},
    ]
    for _ in range(2):  # more malformed requests than the burst window holds: none is ever a 429
        for kwargs in malformed:
            r = await c.post("/v1/recommendations", **{"headers": auth(key), **kwargs})
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (kwargs, r.text)
            assert r.json()["errors"][0]["loc"][0] == "body" and "RateLimit" not in r.headers
    assert 2 * len(malformed) > burst
    bad_options = await c.post(
        "/v1/recommendations",
        files={"file": ("a.wav", b"RIFF", "audio/wav")},
        data={"options": '{"count": 0}'},
        headers=auth(key),
    )
    assert bad_options.json()["errors"][0]["loc"] == ["body", "options", "count"]
    # audio has no place in a batch: a multipart batch is a malformed JSON body
    r = await c.post("/v1/recommendations/batch", files={"file": ("a.wav", b"RIFF", "audio/wav")}, headers=auth(key))
    assert r.status_code == 422 and "RateLimit" not in r.headers

    minute = PLANS["free"].per_minute
    ok = await c.post("/v1/recommendations", json={"seed_track_ids": seeds(stack, 1), "count": 3}, headers=auth(key))
    assert ok.status_code == 200 and f'"minute";r={minute - 1};' in ok.headers["RateLimit"]
    # a well-formed request the service refuses (an unknown seed) takes its rate unit but no quota
    unknown = await c.post("/v1/recommendations", json={"seed_track_ids": [10**9]}, headers=auth(key))
    assert unknown.status_code == 422 and unknown.json()["unknown_track_ids"] == [10**9]
    usage = await c.get("/v1/usage", headers=auth(key))
    assert usage.json()["total"] == 1 and f'"minute";r={minute - 3};' in usage.headers["RateLimit"]
