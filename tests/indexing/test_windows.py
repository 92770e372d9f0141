"""The window collection (`indexing.windows`) on Milvus Lite: created once per segment store beside the track
collection, rows upserted per track (a refill writes the same rows), resumable lookups, and a search that finds a
planted window's track and position."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexing.search import ServingIndex, VectorIndexError
from indexing.windows import WINDOW_ID_STRIDE, WindowIndex

DIM = 24


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[ServingIndex]:
    index = ServingIndex(str(tmp_path / "m.db"), alias="tracks_w")
    yield index
    index.close()


def _track(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32) * 3.0  # not unit length: the index normalises
    starts = 5.0 * np.arange(n, dtype=np.float64)
    return vectors, starts, starts + 10.0


def test_fill_search_and_refill(serving: ServingIndex) -> None:
    windows = WindowIndex(serving, "abc123")
    assert windows.name == "track_windows_abc123"
    assert not windows.exists() and not windows.ensure_loaded()
    assert windows.create(DIM, {"store_id": "abc123", "dim": DIM}) is True
    assert windows.create(DIM, {"store_id": "abc123", "dim": DIM}) is False  # exists: kept as it is
    assert windows.manifest() == {"store_id": "abc123", "dim": DIM}

    rng = np.random.default_rng(0)
    tracks = {tid: _track(rng, n) for tid, n in [(2, 1), (7, 12), (40, 5), (123456, 30)]}
    for tid, (v, s, e) in tracks.items():
        assert windows.add(tid, v, s, e) == len(v)
    assert windows.finish() == sum(len(v) for v, _, _ in tracks.values())
    assert windows.tracks_present([2, 7, 8, 123456]) == {2, 7, 123456}
    serving.client.release_collection(windows.name)  # as a new process finds it
    assert windows.tracks_present([2, 8]) == {2}

    # a noisy copy of window 9 of track 7 and of window 17 of track 123456: each finds its track and where
    v7, s7, _ = tracks[7]
    vb, sb, _ = tracks[123456]
    queries = np.stack([v7[9] + 0.3 * rng.standard_normal(DIM), vb[17] + 0.3 * rng.standard_normal(DIM)])
    found = windows.search(queries, k=5)
    assert [hits[0].track_id for hits in found] == [7, 123456]
    assert found[0][0].start == s7[9] and found[0][0].end == s7[9] + 10.0
    assert found[1][0].start == sb[17]
    for hits in found:
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True) and len(hits) == 5
        assert 0.9 < hits[0].score <= 1.0 + 1e-5  # cosines: the rows were normalised
    assert windows.search(np.zeros((0, DIM), dtype=np.float32), k=3) == []

    # refilling a track writes the same rows (a resumed or repeated fill adds nothing)
    windows.add(7, *tracks[7])
    assert windows.finish() == sum(len(v) for v, _, _ in tracks.values())


def test_bad_rows_and_another_store_are_refused(serving: ServingIndex) -> None:
    windows = WindowIndex(serving, "s1")
    windows.create(DIM, {"store_id": "s1"})
    v, s, e = _track(np.random.default_rng(1), 3)
    with pytest.raises(ValueError):
        windows.add(1, v, s[:2], e)
    with pytest.raises(ValueError):
        windows.add(1, np.zeros((WINDOW_ID_STRIDE + 1, DIM), dtype=np.float32), s, e)
    with pytest.raises(VectorIndexError):
        windows.create(DIM, {"store_id": "s2"})  # never expected: the name is the store id
    windows.drop()
    assert not windows.exists()
