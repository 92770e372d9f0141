"""The catalog-scale load-test library, small: `build_scale_library` writes the same tracks to the database and to
Milvus (SQLite + Milvus Lite here), with tags and vectors of the served dimension, and the API runs on it."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.db.models import Artist, Track
from api.db.session import session_factory
from indexing.milvus_index import TrackIndex
from orchestration.loadtest import LibrarySpec, build_library
from orchestration.scale_library import ScaleLibrarySpec, build_scale_library
from tests.api.conftest import signed_in

TRACKS = 500


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, list[str]]:
    """Built the way `museed loadtest --library-size 500` builds it; the report read back by a reusing build."""
    lines: list[str] = []
    data_dir = tmp_path_factory.mktemp("scale-library")
    settings = build_library(data_dir, LibrarySpec(tracks=TRACKS, synthetic_vectors=True), log=lines.append)
    assert any(f"{TRACKS} tracks (dim" in line for line in lines), lines
    _, report = build_scale_library(data_dir, ScaleLibrarySpec(tracks=TRACKS), log=lines.append)
    return settings, report, lines


def test_the_database_and_milvus_hold_the_same_tracks_with_tags_and_served_vectors(library: Any) -> None:
    settings, report, _ = library
    from embedding.encoders import load_encoder

    dim = load_encoder(settings.encoder, settings=settings).dim
    with session_factory(settings.sqlalchemy_url)() as s:
        db_ids = set(s.scalars(select(Track.track_id)))
        no_search_text = s.scalar(select(func.count()).where(Track.search_text == ""))
        artists = s.scalar(select(func.count()).select_from(Artist))
    assert len(db_ids) == TRACKS and no_search_text == 0 and artists and artists > 10
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias)
    try:
        assert index.count() == TRACKS and report.tracks == TRACKS and report.dim == dim
        rows = index.client.query(
            index.current_collection(), filter="track_id >= 0", output_fields=["track_id", "vector", "energy"],
            limit=TRACKS + 10,
        )  # fmt: skip
    finally:
        index.close()
    assert {int(r["track_id"]) for r in rows} == db_ids
    vectors = np.array([r["vector"] for r in rows], dtype=np.float32)
    assert vectors.shape == (TRACKS, dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert all(r["energy"] in {"low", "medium", "high"} for r in rows)  # the ground-truth tags are indexed


def test_a_second_build_with_the_same_spec_reuses_the_library(library: Any) -> None:
    settings, report, _ = library
    again: list[str] = []
    _, report2 = build_scale_library(settings.data_dir, ScaleLibrarySpec(tracks=TRACKS), log=again.append)
    assert report2 == report and any("reusing" in line for line in again)


async def test_a_listener_creates_a_playlist_on_it(library: Any) -> None:
    settings, _, _ = library
    with session_factory(settings.sqlalchemy_url)() as s:
        seed = s.scalars(select(Track.track_id).order_by(Track.track_id)).first()
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "scale"))
            r = await c.post("/api/playlists", json={"title": "at scale", "seed_track_ids": [seed], "size": 10})
            assert r.status_code == 201, r.text
            assert len(r.json()["tracks"]) == 10
            found = await c.get("/api/tracks", params={"q": "the"})
            assert found.status_code == 200 and found.json()["items"]
