"""The reference finder (`GET /api/uploads/{id}/references`) and the "why, and where" highlights
(`GET /api/tracks/{id}/compare/{other_id}`) end to end: a synthetic corpus in the FMA layout with one long library
track, the small random MuQ, Milvus Lite, SQLite, and a "plagiarised" demo that lifts a passage of that track from a
random position past its first 30 s, mixed with other audio and re-encoded as MP3.

The long library track is a collage of 2-s excerpts of the corpus' tracks: a synthetic track loops its bars
exactly (every 4-s window of an 80-s render has a >= 0.99 twin at least 8 s away, with any encoder), so a passage
lifted from it would match its earlier repeats as well as the planted position; in the collage every passage is
unique, so "where" has one right answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from api.db.load import load_catalog_into_db
from api.db.migrate import upgrade
from api.db.session import session_factory, transaction
from indexing.milvus_index import TrackIndex
from museed.catalog import load_catalog
from museed.settings import Settings
from museed.tags import ground_truth_tags
from orchestration.stages import run_embed, track_metadata
from tests.api.conftest import PROBLEM, signed_in

SEGMENT = 4.0  # the library's segment length here: windows of 4 s every 2 s
HOP = SEGMENT / 2
LONG_SECONDS = 80.0
COPY_SECONDS = 12.0
DEMO_AT = 7.3  # where the demo carries the lifted passage (off the window grid on purpose)


def _collage(seconds: float, seed: int) -> np.ndarray:
    """`seconds` of 2-s excerpts of the corpus' tracks at random offsets (44.1 kHz), with short crossfades."""
    from synth import SAMPLE_RATE, plan_corpus, render_track

    rng = np.random.default_rng(seed)
    plans = plan_corpus(12, seed=seed)
    sources = [render_track(p, 24.0) for p in plans]
    chunk, fade = 2 * SAMPLE_RATE, SAMPLE_RATE // 100
    out = []
    for _ in range(int(seconds // 2)):
        src = sources[int(rng.integers(len(sources)))]
        at = int(rng.integers(0, len(src) - chunk))
        piece = src[at : at + chunk].copy()
        piece[:fade] *= np.linspace(0, 1, fade)
        piece[-fade:] *= np.linspace(1, 0, fade)
        out.append(piece)
    return np.concatenate(out).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 12-track corpus whose first track is the 80-s collage, embedded (3 segments of 4 s), indexed, loaded."""
    from embedding.encoders import load_encoder
    from synth import synthesize_corpus
    from synth.corpus import encode_mp3

    root = tmp_path_factory.mktemp("fma-refs")
    synthesize_corpus(root, tracks=12, seconds=6.0, seed=11, workers=1)
    catalog = load_catalog(root)
    source_id = min(catalog.audio_paths())
    long_audio = _collage(LONG_SECONDS, seed=5)
    encode_mp3(Path(str(catalog.audio_paths()[source_id])), long_audio)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("refs-data"),
        database_url=f"sqlite:///{root / 'api.sqlite'}",
        milvus_uri=str(root / "m.db"),
        milvus_alias="tracks_refs",
        segment_seconds=SEGMENT,
        segments_per_track=3,
        max_upload_bytes=4 * 1024 * 1024,
        upload_wait_seconds=0.5,
        # the small random MuQ scores unrelated synthetic windows up to 0.967 (the copies 0.995-0.999): see the
        # module docstring
        near_copy_cosine=0.99,
    )
    vectors = root / "vectors"
    assert run_embed(root, vectors, settings, encoder_spec="small:0").done == 12
    upgrade(settings.sqlalchemy_url)
    with transaction(session_factory(settings.sqlalchemy_url)) as s:
        load_catalog_into_db(s, catalog)
    from museed.vectorset import load_vector_set

    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias)
    index.build(load_vector_set(vectors), track_metadata(catalog, ground_truth_tags(root / "synth_ground_truth.csv")))
    yield {
        "settings": settings,
        "index": index,
        "encoder": load_encoder("small:0", settings=settings),
        "source_id": source_id,
        "long_audio": long_audio,
        "catalog": catalog,
    }
    index.close()


@pytest.fixture
async def app_client(library: dict[str, Any]) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(settings=library["settings"], track_index=library["index"], encoder=library["encoder"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "creator"))
            yield c, app


def _mp3(audio: np.ndarray, tmp: Path) -> bytes:
    """`audio` (44.1 kHz) as the corpus' MP3 encoder writes it."""
    from synth.corpus import encode_mp3

    encode_mp3(tmp / "demo.mp3", audio)
    return (tmp / "demo.mp3").read_bytes()


def _other_audio(seconds: float) -> np.ndarray:
    """Audio of a track outside the library corpus (another synthetic corpus' plan)."""
    from synth import plan_corpus, render_track

    return render_track(plan_corpus(8, seed=99)[3], seconds).astype(np.float32)


def _demo(library: dict[str, Any], planted_at: float) -> np.ndarray:
    """Other audio, the library passage [planted_at, planted_at + 12 s) spliced in at DEMO_AT, other audio again
    (the whole demo is then re-encoded as MP3 by the upload)."""
    from synth import SAMPLE_RATE as SR

    other = _other_audio(22.0)
    passage = library["long_audio"][int(planted_at * SR) : int((planted_at + COPY_SECONDS) * SR)].copy()
    fade = SR // 100  # 10-ms crossfades at the splices
    passage[:fade] *= np.linspace(0, 1, fade)
    passage[-fade:] *= np.linspace(1, 0, fade)
    return np.concatenate([other[: int(DEMO_AT * SR)], passage, other[int(DEMO_AT * SR) + len(passage) :]])


async def _upload(client: httpx.AsyncClient, audio: np.ndarray, tmp: Path) -> str:
    r = await client.post("/api/uploads", files={"file": ("demo.mp3", _mp3(audio, tmp), "audio/mpeg")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_planted_passage_is_found_where_it_was_lifted(
    app_client: tuple[httpx.AsyncClient, Any], library: dict[str, Any], tmp_path: Path
) -> None:
    client, _ = app_client
    seed = int(np.random.default_rng().integers(1 << 31))
    rng = np.random.default_rng(seed)
    planted_at = float(rng.uniform(30.5, LONG_SECONDS - COPY_SECONDS - 1))  # past the first 30 s, anywhere
    upload_id = await _upload(client, _demo(library, planted_at), tmp_path)

    r = await client.get(f"/api/uploads/{upload_id}/references", params={"limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_seconds"] == SEGMENT and body["hop_seconds"] == HOP
    top = body["references"][0]
    assert top["track"]["track_id"] == library["source_id"], (seed, planted_at, body)
    assert top["near_copy"] is True and top["similarity"] >= body["near_copy_threshold"]
    p = top["passage"]
    msg = f"seed {seed}, planted at {planted_at:.2f} s: {p}"
    # the passage points at the planted position in the library track and in the demo, within one hop
    assert abs(p["track_start"] - planted_at) <= HOP, msg
    assert abs(p["track_end"] - (planted_at + COPY_SECONDS)) <= HOP, msg
    assert abs(p["demo_start"] - DEMO_AT) <= HOP, msg
    assert abs(p["demo_end"] - (DEMO_AT + COPY_SECONDS)) <= HOP, msg
    assert p["track_start"] >= 30.0 - HOP  # not one of the 3 clips the vector set heard
    assert all(not ref["near_copy"] for ref in body["references"][1:])
    assert len(body["references"]) <= 3 and body["shortlisted"] >= len(body["references"])


async def test_a_demo_that_copies_nothing_is_not_a_near_copy(
    app_client: tuple[httpx.AsyncClient, Any], library: dict[str, Any], tmp_path: Path
) -> None:
    client, _ = app_client
    upload_id = await _upload(client, _other_audio(24.0), tmp_path)
    r = await client.get(f"/api/uploads/{upload_id}/references")
    assert r.status_code == 200, r.text
    refs = r.json()["references"]
    assert refs and len(refs) <= 5
    assert [ref["near_copy"] for ref in refs] == [False] * len(refs)
    assert all(ref["similarity"] < r.json()["near_copy_threshold"] for ref in refs)
    sims = [ref["similarity"] for ref in refs]
    assert sims == sorted(sims, reverse=True)


async def test_others_uploads_bad_audio_and_a_busy_encoder(
    app_client: tuple[httpx.AsyncClient, Any], library: dict[str, Any], tmp_path: Path
) -> None:
    client, app = app_client
    upload_id = await _upload(client, _other_audio(8.0), tmp_path)
    stranger = await signed_in(client, "stranger")
    r = await client.get(f"/api/uploads/{upload_id}/references", headers=stranger)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/api/uploads/" + "0" * 32 + "/references")).status_code == 404
    assert (await client.get(f"/api/uploads/{upload_id}/references", params={"limit": 0})).status_code == 422

    embedder = app.state.upload_embedder
    with embedder.slot(), embedder.slot():  # every encoder slot taken (upload_concurrency = 2)
        r = await client.get(f"/api/uploads/{upload_id}/references")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"

    # the stored audio no longer decodes (a disk fault): a clear 422 with the decoder's reason, not a 500
    from sqlalchemy import select

    from api.db.models import Upload

    with transaction(session_factory(library["settings"].sqlalchemy_url)) as s:
        stored = Path(s.scalars(select(Upload.stored_path).where(Upload.id == upload_id)).one())
    stored.write_bytes(b"this is not audio at all" * 100)
    r = await client.get(f"/api/uploads/{upload_id}/references")
    assert r.status_code == 422 and r.json()["reason"] == "not_audio", r.text
    stored.unlink()
    assert (await client.get(f"/api/uploads/{upload_id}/references")).status_code == 404


async def test_references_need_a_sign_in(app_client: tuple[httpx.AsyncClient, Any], tmp_path: Path) -> None:
    client, _ = app_client
    upload_id = await _upload(client, _other_audio(6.0), tmp_path)
    r = await client.get(f"/api/uploads/{upload_id}/references", headers={"Authorization": ""})
    assert r.status_code == 401


async def test_compare_says_why_and_where(app_client: tuple[httpx.AsyncClient, Any], library: dict[str, Any]) -> None:
    client, _ = app_client
    source = library["source_id"]
    others = sorted(t for t in library["catalog"].audio_paths() if t != source)
    r = await client.get(f"/api/tracks/{source}/compare/{others[0]}", params={"top": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["track"]["track_id"] == source and body["other"]["track_id"] == others[0]
    assert -1.0 <= body["similarity"] <= 1.0
    assert body["window_seconds"] == SEGMENT and body["hop_seconds"] == HOP
    assert len(body["segments"]) == 2
    for pair in body["segments"]:
        assert 0 <= pair["track_start"] < pair["track_end"] <= LONG_SECONDS + 0.1
        assert 0 <= pair["other_start"] < pair["other_end"]
    sims = [pair["similarity"] for pair in body["segments"]]
    assert sims == sorted(sims, reverse=True)
    # the index carries the corpus' ground-truth tags: every axis is either shared or differing
    assert set(body["shared_tags"]) | set(body["differing_tags"]) == {
        "genre",
        "mood_style",
        "energy",
        "valence",
        "source",
    }
    assert len(body["why"]) == len(body["shared_tags"])
    for axis, diff in body["differing_tags"].items():
        assert axis not in body["shared_tags"] and diff["track"] != diff["other"]

    # a track against itself: every window matches itself, where it is
    r = await client.get(f"/api/tracks/{source}/compare/{source}", params={"top": 3})
    pairs = r.json()["segments"]
    assert [(p["track_start"], p["track_end"]) for p in pairs] == [(p["other_start"], p["other_end"]) for p in pairs]
    assert all(p["similarity"] > 0.999 for p in pairs) and r.json()["similarity"] == pytest.approx(1.0, abs=1e-3)

    assert (await client.get(f"/api/tracks/{source}/compare/999999999")).status_code == 404
    assert (await client.get(f"/api/tracks/{source}/compare/{others[0]}", params={"top": 0})).status_code == 422


async def test_anonymous_comparisons_never_embed(library: dict[str, Any], tmp_path: Path) -> None:
    """Anonymous callers are answered from stored windows only (a cold track: 401 `sign_in_required`, nothing
    embedded, no encoder slot taken); a signed-in listener's comparison embeds, and then anyone may read it."""
    settings = library["settings"].model_copy(update={"data_dir": tmp_path})  # an empty segment store
    app = create_app(settings=settings, track_index=library["index"], encoder=library["encoder"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as client:
            store = app.state.upload_embedder.segments
            a, b = sorted(t for t in library["catalog"].audio_paths() if t != library["source_id"])[:2]
            r = await client.get(f"/api/tracks/{a}/compare/{b}")
            assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
            assert r.json()["reason"] == "sign_in_required"
            assert store.get(a) is None and store.get(b) is None
            listener = await signed_in(client, "comparer")
            first = await client.get(f"/api/tracks/{a}/compare/{b}", headers=listener)
            assert first.status_code == 200, first.text
            assert store.get(a) is not None and store.get(b) is not None
            again = await client.get(f"/api/tracks/{a}/compare/{b}")
            assert again.status_code == 200 and again.json() == first.json()
            # one stored track is not enough: the other would be embedded
            c = sorted(t for t in library["catalog"].audio_paths() if t != library["source_id"])[2]
            r = await client.get(f"/api/tracks/{a}/compare/{c}")
            assert r.status_code == 401 and store.get(c) is None
