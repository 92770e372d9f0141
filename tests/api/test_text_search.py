"""Text to tracks through the MuQ-MuLan text tower: where no MuLan weights or MuLan vectors are present (every
machine here) the listener route and `/v1` answer 501 `text_search_unavailable` with the reason, and `/v1/meta` and
`/readyz` say `text_search` is off; with a small random MuQ-MuLan built offline (the real loading code: the vector
set's manifest names the MuLan directory) the ranking is the text tower's cosine over the MuLan audio vectors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from embedding.job import SegmentPolicy, TrackAudio, embed_plain
from embedding.mulan import MuLanAudioEncoder, build_small_mulan
from museed.catalog import load_catalog
from museed.vectorset import load_vector_set
from tests.api.conftest import PROBLEM
from tests.api.test_b2b import B2B, _settings, auth, running

PROMPTS = ["calm acoustic guitar at night", "loud electronic dance music", "a sad piano ballad"]
#: tracks of the small corpus embedded with the small MuLan (enough to rank, few enough for two CPU cores)
MULAN_TRACKS = 24


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance without text search (nothing configured), limits in process memory."""
    async with running(stack, _settings(stack, None), 1) as b:
        yield b


async def test_without_a_text_tower_the_answer_says_so(b2b: B2B) -> None:
    (c,) = b2b.clients
    resp = await c.get("/api/tracks/text-search", params={"q": "calm acoustic guitar at night"})
    assert resp.status_code == 501 and resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["type"].endswith("/text_search_unavailable") and problem["reason"] == "text_search_unavailable"
    assert "MUSEED_TEXT_SEARCH_VECTORS" in problem["detail"]
    key = b2b.key()
    keyed = await c.post("/v1/recommendations/text", json={"text": "calm acoustic guitar"}, headers=auth(key))
    assert keyed.status_code == 501 and keyed.json()["type"].endswith("/text_search_unavailable")
    meta = (await c.get("/v1/meta", headers=auth(key))).json()
    assert meta["text_search"] is False
    usage = (await c.get("/v1/usage", headers=auth(key))).json()
    assert "recommendations.text" not in {r["endpoint"] for r in usage["rows"]}  # a 501 counts nothing
    ready = (await c.get("/readyz")).json()
    assert ready["features"]["text_search"]["available"] is False and ready["features"]["text_search"]["reason"]


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "x" * 301}, {"q": "guitar", "count": 0}, {"q": "guitar", "count": 101}]
)
async def test_bad_prompts_are_422_before_anything_else(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await client.get("/api/tracks/text-search", params=params)
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM


@pytest.fixture(scope="module")
def small_mulan(tmp_path_factory: pytest.TempPathFactory) -> MuLanAudioEncoder:
    """A small random MuQ-MuLan, built offline in the real MuLan layout (its scores mean nothing)."""
    return build_small_mulan(tmp_path_factory.mktemp("api-mulan"), seed=3, texts=PROMPTS)


@pytest.fixture(scope="module")
def mulan_vectors(small_mulan: MuLanAudioEncoder, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Some library tracks embedded with the small MuLan's audio tower: a MuLan vector set."""
    catalog = load_catalog(small_corpus)
    ids = list(catalog.tracks.index)[:MULAN_TRACKS]
    tracks = [TrackAudio(int(t), catalog.tracks.loc[t, "audio_path"]) for t in ids]
    out = tmp_path_factory.mktemp("api-mulan-vectors") / "mulan"
    policy = SegmentPolicy(sample_rate=small_mulan.sample_rate, segment_seconds=2.0, n_segments=1)
    report = embed_plain(tracks, small_mulan, out, policy=policy)
    assert report.done == len(tracks)
    return out


async def test_with_a_small_mulan_the_ranking_is_the_text_towers(
    stack: dict[str, Any], small_mulan: MuLanAudioEncoder, mulan_vectors: Path
) -> None:
    settings = _settings(stack, None).model_copy(update={"text_search_vectors": mulan_vectors})
    async with running(stack, settings, 1) as b:
        (c,) = b.clients
        vs = load_vector_set(mulan_vectors)
        for prompt in PROMPTS:
            resp = await c.get("/api/tracks/text-search", params={"q": f"  {prompt} ", "count": 5})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["query"] == prompt and body["vector_set_id"] == vs.manifest.vector_set_id
            assert body["encoder_id"] == small_mulan.encoder_id
            # ground truth: the same text tower's vector against every MuLan audio vector
            text = small_mulan.embed_texts([prompt])[0]
            scores = np.asarray(vs.vectors, dtype=np.float64) @ text
            want = [int(vs.track_ids[i]) for i in np.argsort(-scores, kind="stable")[:5]]
            assert [r["track_id"] for r in body["results"]] == want
            assert [r["score"] for r in body["results"]] == pytest.approx(sorted(scores, reverse=True)[:5], abs=1e-4)
            assert body["results"][0]["title"] and body["results"][0]["rank"] == 0
        key = b.key()
        meta = (await c.get("/v1/meta", headers=auth(key))).json()
        assert meta["text_search"] is True
        ready = (await c.get("/readyz")).json()["features"]["text_search"]
        assert ready["available"] is True and ready["tracks"] == MULAN_TRACKS
        keyed = await c.post("/v1/recommendations/text", json={"text": PROMPTS[0], "count": 50}, headers=auth(key))
        assert keyed.status_code == 200, keyed.text
        # the free plan returns at most 20; the library's MuLan set holds 24 tracks
        assert keyed.json()["count"] == 20 and keyed.json()["capped_by_plan"] is True
        listener = (await c.get("/api/tracks/text-search", params={"q": PROMPTS[0], "count": 20})).json()
        assert [r["track_id"] for r in keyed.json()["results"]] == [r["track_id"] for r in listener["results"]]
        usage = (await c.get("/v1/usage", headers=auth(key))).json()
        assert {r["endpoint"]: r["count"] for r in usage["rows"]}.get("recommendations.text") == 1


async def test_vectors_of_another_space_are_refused_with_the_reason(stack: dict[str, Any], small_vectors: Path) -> None:
    # the served MuQ vectors are not MuLan-space: prompts cannot be scored against them
    settings = _settings(stack, None).model_copy(update={"text_search_vectors": small_vectors})
    app = create_app(settings=settings, track_index=stack["index"], encoder=stack["encoder"])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get("/api/tracks/text-search", params={"q": "guitar"})
        assert resp.status_code == 501
        assert "not a MuQ-MuLan audio tower" in resp.json()["detail"]
