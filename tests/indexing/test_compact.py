"""The compact store: exact re-rank of IVF_PQ candidates, exact search of small filters, memory in `describe()`."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexing.compact import CompactStore, quantize
from indexing.filters import filtered_rerank
from indexing.milvus_index import IndexPlan, SearchFilters, TrackIndex
from indexing.schema import milvus_row
from tests.indexing.test_index import clustered_vectors


def spaced(n: int = 40, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(query, unit vectors) whose scores with the query are spread 0.02 apart: well above int8 error."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=dim)
    q /= np.linalg.norm(q)
    rows = []
    for cos in np.linspace(0.95, 0.95 - 0.02 * (n - 1), n):
        other = rng.normal(size=dim)
        other -= (other @ q) * q
        other /= np.linalg.norm(other)
        rows.append(cos * q + np.sqrt(1 - cos**2) * other)
    return q.astype(np.float32), np.asarray(rows, dtype=np.float32)


def store_of(vectors: np.ndarray, dtype: str = "int8", artists: list[int] | None = None) -> CompactStore:
    """A store over `vectors` with track ids 1000.. and the given artists."""
    ids = np.arange(1000, 1000 + len(vectors))
    artists = artists or [-1] * len(vectors)
    rows = [{"genre_top": "Rock", "artist_id": a, "duration": 30.0, "genres_all": [1]} for a in artists]
    return CompactStore.from_rows(ids, vectors, rows, dtype)


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_rerank_returns_the_exact_order_of_its_candidates(dtype: str, tmp_path: Path) -> None:
    q, x = spaced()
    store = CompactStore.load(store_of(x, dtype).save(tmp_path / "s"))
    assert store.dtype == dtype and isinstance(store.codes, np.memmap)
    candidates = [1000 + i for i in np.random.default_rng(1).permutation(len(x))[:25]]
    ranked = store.rerank(q, candidates)
    exact = sorted(candidates, key=lambda t: -float(x[t - 1000] @ q))
    assert [t for t, _, _ in ranked] == exact
    for t, score, _ in ranked:
        assert score == pytest.approx(float(x[t - 1000] @ q), abs=2e-3)
    with pytest.raises(Exception, match="not in the compact store"):
        store.rerank(q, [5])


def test_exact_scan_is_brute_force_with_exclusions_and_cap() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = store_of(x, artists=[i % 7 for i in range(300)])
    q = x[3]
    rows = np.arange(0, 300, 3)  # a filter keeping every third row
    truth = [int(r) for r in sorted(rows, key=lambda r: -float(x[r] @ q))]
    got = store.exact(q, rows, 10, exclude_ids=[1000 + truth[0]])
    assert [row for _, _, row in got] == truth[1:11]
    capped = store.exact(q, rows, 7, max_per_artist=1)
    best_per_artist = [r for i, r in enumerate(truth) if r % 7 not in {t % 7 for t in truth[:i]}]
    assert [r for _, _, r in capped] == best_per_artist  # each artist's best row, best first
    codes, scales = quantize(x)
    assert scales is not None and np.abs(codes.astype(np.float32) * scales[:, None] - x).max() < 0.01


def test_filtered_rerank_deepens_with_the_filter_and_is_capped() -> None:
    assert filtered_rerank(200, 1.0) == 200
    assert filtered_rerank(200, 28_428 / 90_000) == 634  # the common genre: ~3x the candidates
    assert filtered_rerank(200, 0.01) == 800 and filtered_rerank(200, 0.0) == 800


def _calls(index: TrackIndex) -> list[dict[str, Any]]:
    """Record the keyword arguments of every Milvus search the index makes (and the hits it got back)."""
    calls: list[dict[str, Any]] = []
    real = index.client.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        res = real(*args, **kwargs)
        calls.append({**kwargs, "ids": [int(h.get("id", h.get("track_id"))) for h in res[0]]})
        return res

    index.client.search = spy
    return calls


def test_small_filters_go_exact_and_the_rest_is_reranked(milvus_uri: str, unique_alias: str, tmp_path: Path) -> None:
    vs, meta = clustered_vectors(n=1200)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    plan = IndexPlan(index_type="IVF_PQ", nlist=8, nprobe=2, m=4, nbits=8, rerank=60, exact_max_rows=100)
    try:
        name = index.build(vs, meta, plan=plan, sample_queries=10, store_dir=tmp_path / "stores")
        calls = _calls(index)
        q = vs.vectors[5]
        x, ids = vs.vectors, vs.track_ids

        # "like this, but Easy Listening": ~24 rows, under exact_max_rows -> no Milvus search, brute-force answer
        rare = np.flatnonzero([meta[int(t)]["genre_top"] == "Easy Listening" for t in ids])
        assert 0 < len(rare) <= 100
        hits = index.search(q, k=10, filters=SearchFilters(genre="Easy Listening"))
        truth = [int(ids[r]) for r in sorted(rare, key=lambda r: -float(x[r] @ q))[:10]]
        assert [h.track_id for h in hits] == truth and calls == []
        assert all(h.fields["genre_top"] == "Easy Listening" for h in hits)
        assert hits[0].fields["artist_id"] == meta[truth[0]]["artist_id"]

        # unfiltered: the index's top 60 come back with ids only, and are returned in their exact order
        hits = index.search(q, k=10)
        assert len(calls) == 1 and calls[0]["limit"] == 60 and calls[0]["output_fields"] == ["track_id"]
        row = {int(t): i for i, t in enumerate(ids)}
        exact = {t: float(x[row[t]] @ q) for t in calls[0]["ids"]}
        got = [exact[h.track_id] for h in hits]  # KeyError: a hit that was not a candidate
        tol = 3e-3  # int8 quantisation: near-ties may swap, nothing else
        assert all(a >= b - tol for a, b in itertools.pairwise(got))
        assert max(s for t, s in exact.items() if t not in {h.track_id for h in hits}) <= min(got) + tol
        assert all(h.score == pytest.approx(exact[h.track_id], abs=tol) for h in hits)
        assert hits[0].track_id == int(ids[5]) and hits[0].score == pytest.approx(1.0, abs=5e-3)
        assert hits[0].fields["genre_top"] == meta[int(ids[5])]["genre_top"]

        report = index.describe()
        n, dim = len(vs), vs.manifest.dim
        assert report["collection"] == name and report["rows"] == n and report["plan"]["rerank"] == 60
        memory = report["memory"]
        assert memory["raw_float32_bytes"] == n * dim * 4
        assert memory["compact_store_bytes"] == n * dim + n * 4  # int8 codes + one float32 scale per row
        assert memory["index_vector_bytes"] == (n * 4 if not index.is_lite else n * dim * 4)  # Lite: IVF_FLAT
    finally:
        index.close()


def test_a_missing_store_falls_back_to_milvus(milvus_uri: str, unique_alias: str, tmp_path: Path) -> None:
    vs, meta = clustered_vectors(n=400)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    plan = dataclasses.replace(IndexPlan(index_type="IVF_FLAT", nlist=4, nprobe=4), rerank=50, exact_max_rows=100)
    try:
        index.build(vs, meta, plan=plan, sample_queries=5, store_dir=tmp_path / "stores")
        shutil.rmtree(tmp_path / "stores")
        index._stores.clear()
        hits = index.search(vs.vectors[0], k=5, filters=SearchFilters(genre="Easy Listening"))
        assert hits and all(h.fields["genre_top"] == "Easy Listening" for h in hits)
        report = index.describe()
        assert report["compact_store"] is None and "cannot read" in report["compact_store_error"]
    finally:
        index.close()


def test_store_rows_match_what_milvus_stores() -> None:
    vs, meta = clustered_vectors(n=50)
    rows = [milvus_row(int(t), vs.vectors[i], meta[int(t)], vs, i) for i, t in enumerate(vs.track_ids)]
    store = CompactStore.from_rows(vs.track_ids, vs.vectors, rows)
    assert store.fields(3) == {k: v for k, v in rows[3].items() if k != "vector"}
    rock = store.matching_rows({"genre_top": "Rock"})
    assert rock is not None and [int(vs.track_ids[r]) for r in rock] == [
        t for t in vs.track_ids.tolist() if meta[t]["genre_top"] == "Rock"
    ]
    jazz = store.matching_rows({"genre_top": "Jazz"})
    assert store.matching_rows({}) is None and jazz is not None and len(jazz) == 0


def test_candidate_vectors_come_from_the_store_without_a_round_trip(
    milvus_uri: str, unique_alias: str, tmp_path: Path
) -> None:
    vs, meta = clustered_vectors(n=400)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    plan = dataclasses.replace(IndexPlan(index_type="IVF_FLAT", nlist=4, nprobe=4), rerank=50, exact_max_rows=100)
    try:
        index.build(vs, meta, plan=plan, sample_queries=5, store_dir=tmp_path / "stores")
        ids = [int(t) for t in vs.track_ids[[3, 70, 250]]]
        queries: list[Any] = []
        real = index.client.query
        index.client.query = lambda *a, **kw: queries.append(kw) or real(*a, **kw)  # type: ignore[method-assign]
        got = index.candidate_vectors([*ids, 987654])  # an id the collection lacks is absent, as in get_vectors
        assert sorted(got) == sorted(ids)
        assert len(queries) == 1 and "987654" in queries[0]["filter"]  # only the id the store lacks went to Milvus
        row = {int(t): i for i, t in enumerate(vs.track_ids)}
        for t in ids:
            exact = vs.vectors[row[t]]
            assert got[t].dtype == np.float32 and float(got[t] @ exact) == pytest.approx(1.0, abs=1e-3)
            assert np.abs(got[t] - exact).max() <= np.abs(exact).max() / 127  # int8: half a step per component
        shutil.rmtree(tmp_path / "stores")
        index._stores.clear()  # no store: the stored vectors themselves
        queries.clear()
        without = index.candidate_vectors(ids)
        assert len(queries) == 1 and all(np.array_equal(without[t], vs.vectors[row[t]]) for t in ids)
    finally:
        index.close()
