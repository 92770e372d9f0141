"""The Milvus track collection on Milvus Lite and on a real Milvus server."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from embedding.store import VectorSet, VectorSetManifest
from indexing.milvus_index import IndexPlan, TrackIndex, build_filter, default_plan

GENRES = ["Rock", "Electronic", "Easy Listening"]


def clustered_vectors(n: int = 600, dim: int = 32, seed: int = 0, encoder_id: str = "enc") -> tuple[VectorSet, dict]:
    """Unit vectors around one centre per genre; Easy Listening is rare (2 % of tracks)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GENRES), dim))
    genre_idx = rng.choice(len(GENRES), size=n, p=[0.6, 0.38, 0.02])
    v = centres[genre_idx] + 0.6 * rng.normal(size=(n, dim))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    vs = VectorSet(
        manifest=VectorSetManifest(encoder_id=encoder_id, config_hash="c" * 64, dim=dim),
        track_ids=ids,
        vectors=v,
        n_segments=np.ones(n, dtype=np.int32),
        duration_seconds=np.full(n, 30.0, dtype=np.float32),
    )
    meta = {int(t): {"genre_top": GENRES[g], "artist_id": int(t) % 40} for t, g in zip(ids, genre_idx, strict=True)}
    return vs, meta


def test_filter_expressions_escape_strings() -> None:
    assert build_filter() == ""
    assert build_filter(genre="Rock") == 'genre_top == "Rock"'
    assert build_filter(genre='Old-Time / "Historic"', exclude_ids=[3, 4]) == (
        'genre_top == "Old-Time / \\"Historic\\"" and track_id not in [3, 4]'
    )
    with pytest.raises(ValueError):
        build_filter(equals={"password": "x"})


def test_default_plan_respects_kmeans_minimum() -> None:
    assert default_plan(300).nlist == 7 and default_plan(300).nprobe == 7
    big = default_plan(90_000)
    assert big.nlist == int(4 * np.sqrt(90_000)) and big.nprobe == big.nlist // 8


def test_build_search_filter_and_alias(milvus_uri: str, unique_alias: str, tmp_path: Path) -> None:
    vs, meta = clustered_vectors()
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        assert index.current_collection() is None
        name = index.build(vs, meta)
        assert index.current_collection() == name
        assert index.count() == len(vs)
        plan = index.current_plan()
        assert plan.index_type == "IVF_FLAT" and plan.nlist == default_plan(len(vs)).nlist

        # a track finds itself first, with cosine ~1
        q = vs.vectors[0]
        hits = index.search(q, k=10)
        assert hits[0].track_id == int(vs.track_ids[0]) and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

        # exact answer for comparison: the filtered top-10 by brute force
        rare = [t for t, m in meta.items() if m["genre_top"] == "Easy Listening"]
        assert 3 <= len(rare) < 30
        filtered = index.search(q, k=50, genre="Easy Listening")
        assert {h.track_id for h in filtered} == set(rare)  # every rare track, nothing else
        assert all(h.fields["genre_top"] == "Easy Listening" for h in filtered)

        excluded = index.search(q, k=5, exclude_ids=[int(vs.track_ids[0])])
        assert int(vs.track_ids[0]) not in {h.track_id for h in excluded}

        got = index.get_vectors([int(vs.track_ids[1]), 999_999])
        assert set(got) == {int(vs.track_ids[1])}
        np.testing.assert_allclose(got[int(vs.track_ids[1])], vs.vectors[1], rtol=1e-5)
    finally:
        index.close()


def test_rebuild_swaps_alias_without_failed_queries(milvus_uri: str, unique_alias: str) -> None:
    vs1, meta1 = clustered_vectors(seed=1, encoder_id="enc-1")
    vs2, meta2 = clustered_vectors(seed=2, encoder_id="enc-2")
    index = TrackIndex(milvus_uri, alias=unique_alias)
    first = index.build(vs1, meta1)
    errors: list[BaseException] = []
    served = 0
    stop = threading.Event()

    def query_loop() -> None:
        nonlocal served
        reader = TrackIndex(milvus_uri, alias=unique_alias) if not index.is_lite else index
        plan = IndexPlan(index_type="IVF_FLAT", nlist=1, nprobe=16)
        while not stop.is_set():
            try:
                assert len(reader.search(vs1.vectors[0], k=5, plan=plan)) == 5
                served += 1
            except BaseException as exc:  # any failure during the swap is the bug under test
                errors.append(exc)
                return

    worker = threading.Thread(target=query_loop)
    worker.start()
    try:
        second = index.build(vs2, meta2)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors
    assert served > 0
    assert second != first and index.current_collection() == second
    index.close()
