"""Uploads over HTTP: a re-encoded library track finds itself, its neighbour-vote analysis, privacy, and the
refusals that leave nothing behind (on both stacks of conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from museed.vectorset import VectorSet
from tests.api.conftest import PROBLEM, exact_top, signed_in


async def test_upload_of_a_reencoded_library_track_finds_it_first(
    client: httpx.AsyncClient, stack: dict[str, Any], tmp_path: Path
) -> None:
    import soundfile as sf

    tid = int(stack["catalog"].with_audio().index[5])
    audio, sr = sf.read(stack["catalog"].tracks.loc[tid, "audio_path"], dtype="float32")
    flac = tmp_path / "my demo.flac"
    sf.write(flac, 0.8 * audio, sr, format="FLAC")  # another codec and a gain change
    resp = await client.post("/api/uploads", files={"file": ("my demo.flac", flac.read_bytes(), "audio/flac")})
    assert resp.status_code == 201, resp.text
    up = resp.json()
    assert up["encoder_id"] == stack["encoder"].encoder_id and up["duration_seconds"] > 3
    # analysed on arrival: each axis voted by the 20 nearest library tracks
    analysis = up["analysis"]
    assert analysis["method"] == "neighbour vote" and analysis["neighbours"] == 20
    assert set(analysis["tags"]) == {"genre_top", "mood_style", "energy", "valence", "source"}
    assert all(0 < v["share"] <= 1 for v in analysis["tags"].values())
    me = (await client.get("/api/users/me")).json()
    badges = (await client.get(f"/api/users/{me['id']}/badges")).json()
    assert "first_upload" in {b["badge"] for b in badges}
    assert [u["id"] for u in (await client.get("/api/uploads")).json()] == [up["id"]]

    made = await client.post("/api/playlists", json={"seed_upload_id": up["id"], "size": 5})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["tracks"][0]["track_id"] == tid and body["tracks"][0]["score"] > 0.99
    assert body["seed_upload_id"] == up["id"] and body["seed_tracks"] == []
    assert body["title"] == "Like “my demo.flac”"
    # creators can ask to leave the near-duplicate out
    fresh = await client.post(
        "/api/playlists", json={"seed_upload_id": up["id"], "size": 5, "exclude_near_duplicates": True}
    )
    assert tid not in [t["track_id"] for t in fresh.json()["tracks"]]

    # the upload is private: another user can neither seed with it, nor see, nor delete it
    other = await signed_in(client, "someone-else")
    assert (await client.post("/api/playlists", json={"seed_upload_id": up["id"]}, headers=other)).status_code == 404
    assert (await client.get("/api/uploads", headers=other)).json() == []
    # published, the playlist shows others its tracks but not which private upload seeded it
    await client.patch(f"/api/playlists/{body['id']}", json={"visibility": "public"})
    seen = (await client.get(f"/api/playlists/{body['id']}", headers=other)).json()
    assert seen["seed_upload_id"] is None and seen["recipe"]["seed_upload_id"] is None
    assert seen["recipe"]["seed_profile"] == {} and seen["tracks"] == body["tracks"]
    assert (await client.get(f"/api/playlists/{body['id']}")).json()["seed_upload_id"] == up["id"]
    assert (await client.delete(f"/api/uploads/{up['id']}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/uploads/{up['id']}")).status_code == 204
    assert (await client.post("/api/playlists", json={"seed_upload_id": up["id"]})).status_code == 404


def test_upload_analysis_is_the_neighbours_majority(stack: dict[str, Any]) -> None:
    from api.uploads.service import analyse

    vs: VectorSet = stack["vectors"]
    for i in (0, 11, 40):
        vector = vs.vectors[i]
        analysis = analyse(stack["index"], [float(x) for x in vector], neighbours=15)
        nearest = exact_top(vs, vector, exclude=set())[:15]
        for axis in ("mood_style", "energy", "source"):
            labels = [getattr(stack["tags"][t], axis) for t in nearest]
            vote = analysis["tags"][axis]
            assert labels.count(vote["value"]) == max(labels.count(x) for x in labels)
            assert vote["share"] == pytest.approx(labels.count(vote["value"]) / 15, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "payload", "status", "reason"),
    [
        ("empty.mp3", b"", 422, "empty"),
        ("notes.mp3", b"these are not the sounds you are looking for" * 50, 422, "not_audio"),
        ("huge.wav", b"\0" * (3 * 1024 * 1024), 413, "too_large"),
        ("script.exe", b"MZ" * 100, 422, "not_audio"),
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(
    client: httpx.AsyncClient, stack: dict[str, Any], name: str, payload: bytes, status: int, reason: str
) -> None:
    before = (await client.get("/api/uploads")).json()
    resp = await client.post("/api/uploads", files={"file": (name, payload, "application/octet-stream")})
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM) and resp.json()["reason"] == reason
    assert (await client.get("/api/uploads")).json() == before
    me = (await client.get("/api/users/me")).json()
    folder = stack["settings"].data_dir / "uploads" / me["id"]
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_too_short_upload_and_anonymous_upload(client: httpx.AsyncClient, tmp_path: Path) -> None:
    import soundfile as sf

    short = tmp_path / "blip.wav"
    sf.write(short, 0.3 * np.sin(np.linspace(0, 800, 22050)).astype("float32"), 44100)  # 0.5 s
    resp = await client.post("/api/uploads", files={"file": ("blip.wav", short.read_bytes(), "audio/wav")})
    assert resp.status_code == 422 and resp.json()["reason"] == "too_short"
    anon = await client.post(
        "/api/uploads", files={"file": ("blip.wav", short.read_bytes(), "audio/wav")}, headers={"Authorization": ""}
    )
    assert anon.status_code == 401
    missing = await client.post("/api/uploads", data={"nothing": "here"})
    assert missing.status_code == 422 and missing.headers["content-type"].startswith(PROBLEM)
