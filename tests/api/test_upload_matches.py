"""Which library recording is this? (`GET /api/uploads/{id}/matches`) end to end, and the fill job behind it
(`museed windows` = `orchestration.windows`): a synthetic corpus in the FMA layout whose first track is an 80-s
collage (every passage unique, see tests/api/test_references.py), the small random MuQ, Milvus Lite, SQLite; an
excerpt lifted off the window grid, downmixed, resampled and re-encoded as MP3 is uploaded and must find its
recording first, at the place it was lifted from."""

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
from embedding.job import TrackAudio, catalog_tracks
from embedding.segments import SegmentStore
from indexing.milvus_index import TrackIndex
from indexing.windows import WindowIndex
from museed.catalog import load_catalog
from museed.settings import Settings
from orchestration.windows import FILL_REPORT, fill_window_index
from tests.api.conftest import PROBLEM, signed_in
from tests.api.test_references import _collage, _other_audio

SEGMENT = 4.0  # windows of 4 s every 2 s
HOP = SEGMENT / 2
LONG_SECONDS = 80.0
EXCERPT_SECONDS = 8.0


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 10-track corpus (the first an 80-s collage) in the DB and, window by window, in the window index."""
    from embedding.encoders import load_encoder
    from synth import synthesize_corpus
    from synth.corpus import encode_mp3

    root = tmp_path_factory.mktemp("fma-matches")
    synthesize_corpus(root, tracks=10, seconds=6.0, seed=21, workers=1)
    catalog = load_catalog(root)
    source_id = min(catalog.audio_paths())
    long_audio = _collage(LONG_SECONDS, seed=8)
    encode_mp3(Path(str(catalog.audio_paths()[source_id])), long_audio)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("matches-data"),
        database_url=f"sqlite:///{root / 'api.sqlite'}",
        milvus_uri=str(root / "m.db"),
        milvus_alias="tracks_matches",
        segment_seconds=SEGMENT,
        segments_per_track=3,
        max_upload_bytes=4 * 1024 * 1024,
        upload_wait_seconds=0.5,
        near_copy_cosine=0.99,
    )
    upgrade(settings.sqlalchemy_url)
    with transaction(session_factory(settings.sqlalchemy_url)) as s:
        load_catalog_into_db(s, catalog)
    encoder = load_encoder("small:0", settings=settings)
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias)
    store = SegmentStore.for_library(settings, encoder)
    tracks = catalog_tracks(catalog)
    broken = root / "broken.mp3"
    broken.write_bytes(b"not audio" * 50)
    extra = [TrackAudio(track_id=990_001, path=str(broken)), TrackAudio(track_id=990_002, path=None)]
    report = fill_window_index([*tracks, *extra], store, WindowIndex(index, store.store_id))
    yield {
        "settings": settings,
        "index": index,
        "encoder": encoder,
        "store": store,
        "tracks": tracks,
        "extra": extra,
        "report": report,
        "source_id": source_id,
        "long_audio": long_audio,
    }
    index.close()


@pytest.fixture
async def client(library: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings=library["settings"], track_index=library["index"], encoder=library["encoder"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "listener"))
            yield c


def _mp3_mono(audio: np.ndarray, rate: int) -> bytes:
    """`audio` (44.1 kHz mono) resampled to `rate` and encoded as constant-bitrate MP3."""
    import io

    import soundfile as sf
    import soxr

    from synth import SAMPLE_RATE

    buffer = io.BytesIO()
    sf.write(buffer, soxr.resample(audio, SAMPLE_RATE, rate), rate, format="MP3", bitrate_mode="CONSTANT")
    return buffer.getvalue()


async def _upload(client: httpx.AsyncClient, data: bytes) -> str:
    r = await client.post("/api/uploads", files={"file": ("excerpt.mp3", data, "audio/mpeg")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_fill_indexes_every_window_and_resumes(library: dict[str, Any]) -> None:
    report, store = library["report"], library["store"]
    tracks = library["tracks"]
    assert report.tracks == len(tracks) + 2 and report.embedded == len(tracks) and report.already_indexed == 0
    assert report.failed == 2 and report.failure_reasons == {"missing": 1, "not_audio": 1}
    stored = {t.track_id: store.get(t.track_id) for t in tracks}
    assert all(w is not None for w in stored.values())
    # every window of every track is a row: the collage's 39 (4 s every 2 s over 80 s), 2 per 6-s track
    assert len(stored[library["source_id"]].vectors) == 39  # type: ignore[union-attr]
    assert report.rows == report.windows_added == sum(len(w.vectors) for w in stored.values())  # type: ignore[union-attr]
    assert (store.folder / FILL_REPORT).is_file()

    # a second run embeds nothing and adds nothing: the indexed tracks are skipped
    again = fill_window_index([*tracks, *library["extra"]], store, WindowIndex(library["index"], store.store_id))
    assert again.already_indexed == len(tracks) and again.embedded == 0 and again.windows_added == 0
    assert again.rows == report.rows and again.failed == 2


async def test_an_excerpt_finds_its_recording_first_and_where(
    client: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    from synth import SAMPLE_RATE as SR

    seed = int(np.random.default_rng().integers(1 << 31))
    rng = np.random.default_rng(seed)
    while True:  # anywhere in the track, at least 0.3 s off the library's window starts
        offset = float(rng.uniform(0.5, LONG_SECONDS - EXCERPT_SECONDS - 0.5))
        if min(offset % HOP, HOP - offset % HOP) > 0.3:
            break
    excerpt = library["long_audio"][int(offset * SR) : int((offset + EXCERPT_SECONDS) * SR)]
    upload_id = await _upload(client, _mp3_mono(excerpt, 32_000))  # the random MuQ hears up to 12 kHz

    r = await client.get(f"/api/uploads/{upload_id}/matches", params={"limit": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_seconds"] == SEGMENT and body["hop_seconds"] == HOP
    assert body["collection"] == f"track_windows_{library['store'].store_id}"
    assert body["upload_windows_searched"] >= 2 and body["unavailable_track_ids"] == []
    matches = body["matches"]
    msg = f"seed {seed}, offset {offset:.2f} s: {body}"
    assert 1 <= len(matches) <= 4
    assert matches[0]["track"]["track_id"] == library["source_id"], msg
    assert len({m["track"]["track_id"] for m in matches}) == len(matches)  # one entry per track
    sims = [m["similarity"] for m in matches]
    assert sims == sorted(sims, reverse=True)
    best = matches[0]["best"]
    # the best window pair lies where the excerpt was lifted from, in the track and in the upload
    track_shift = best["track_start"] - best["upload_start"]
    assert abs(track_shift - offset) <= HOP, msg
    assert 0 <= best["upload_start"] < best["upload_end"] <= EXCERPT_SECONDS + 0.1
    assert best["track_end"] - best["track_start"] == pytest.approx(SEGMENT)
    assert matches[0]["windows_matched"] >= 1


async def test_matches_are_private_and_bounded(client: httpx.AsyncClient, library: dict[str, Any]) -> None:
    upload_id = await _upload(client, _mp3_mono(_other_audio(6.0), 22_050))
    r = await client.get(f"/api/uploads/{upload_id}/matches")
    assert r.status_code == 200 and len(r.json()["matches"]) <= 5
    stranger = await signed_in(client, "stranger")
    r = await client.get(f"/api/uploads/{upload_id}/matches", headers=stranger)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/api/uploads/" + "0" * 32 + "/matches")).status_code == 404
    assert (await client.get(f"/api/uploads/{upload_id}/matches", params={"limit": 0})).status_code == 422
    r = await client.get(f"/api/uploads/{upload_id}/matches", headers={"Authorization": ""})
    assert r.status_code == 401


async def test_without_a_window_index_the_answer_says_so(library: dict[str, Any]) -> None:
    from embedding.encoders import load_encoder

    # another encoder: its segment store has no window collection (nobody ran `museed windows` for it)
    other = load_encoder("small:1", settings=library["settings"])
    app = create_app(settings=library["settings"], track_index=library["index"], encoder=other)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "early"))
            upload_id = await _upload(c, _mp3_mono(_other_audio(6.0), 22_050))
            r = await c.get(f"/api/uploads/{upload_id}/matches")
    assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM), r.text
    problem = r.json()
    assert problem["reason"] == "no_window_index"
    assert "museed windows" in problem["detail"] and other.encoder_id in problem["detail"]
