"""The vector-set store: shards, manifest, resume, duplicates and stale-vector refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from museed.vectorset import (
    VectorSetError,
    VectorSetManifest,
    VectorSetWriter,
    load_vector_set,
    read_failures,
    read_manifest,
)


def _unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _manifest(encoder_id: str = "enc-a", dim: int = 8) -> VectorSetManifest:
    return VectorSetManifest(encoder_id=encoder_id, config_hash="h" * 64, dim=dim)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    w = VectorSetWriter(tmp_path / "vs", _manifest())
    v = _unit(5, 8)
    w.write_shard([10, 11, 12], v[:3], [3, 3, 1], [30.0, 31.0, 5.0])
    w.write_shard([13, 14], v[3:], [3, 3], [40.0, 41.0])
    w.finish(tracks=5, failures=0)
    vs = load_vector_set(tmp_path / "vs")
    assert list(vs.track_ids) == [10, 11, 12, 13, 14]
    np.testing.assert_allclose(vs.vectors, v, rtol=1e-6)
    assert list(vs.n_segments) == [3, 3, 1, 3, 3]
    assert read_manifest(tmp_path / "vs").tracks == 5
    assert w.done_track_ids() == {10, 11, 12, 13, 14}


def test_duplicate_ids_keep_the_newest_row(tmp_path: Path) -> None:
    w = VectorSetWriter(tmp_path / "vs", _manifest())
    v = _unit(3, 8)
    w.write_shard([1, 2], v[:2], [1, 1], [1.0, 1.0])
    w.write_shard([2], v[2:], [1], [1.0])
    vs = load_vector_set(tmp_path / "vs")
    assert sorted(vs.track_ids.tolist()) == [1, 2]
    np.testing.assert_allclose(vs.vectors[vs.index_of()[2]], v[2], rtol=1e-6)


def test_refuses_to_mix_encoders(tmp_path: Path) -> None:
    VectorSetWriter(tmp_path / "vs", _manifest("enc-a"))
    with pytest.raises(VectorSetError, match="refusing to mix"):
        VectorSetWriter(tmp_path / "vs", _manifest("enc-b"))


def test_shape_checks_and_empty_sets(tmp_path: Path) -> None:
    w = VectorSetWriter(tmp_path / "vs", _manifest())
    with pytest.raises(VectorSetError, match="shape"):
        w.write_shard([1], _unit(1, 4), [1], [1.0])
    with pytest.raises(VectorSetError, match="no shards"):
        load_vector_set(tmp_path / "vs")
    with pytest.raises(VectorSetError, match="not a vector set"):
        load_vector_set(tmp_path / "nothing")


def test_leftover_temp_shard_is_ignored(tmp_path: Path) -> None:
    """A job killed mid-write leaves a `.tmp` file; readers and resume must not count it."""
    w = VectorSetWriter(tmp_path / "vs", _manifest())
    w.write_shard([1], _unit(1, 8), [1], [1.0])
    (tmp_path / "vs" / "shards" / ".part-9999.parquet.tmp").write_bytes(b"half a parquet file")
    assert w.done_track_ids() == {1}
    assert len(load_vector_set(tmp_path / "vs")) == 1


def test_failures_latest_record_wins(tmp_path: Path) -> None:
    w = VectorSetWriter(tmp_path / "vs", _manifest())
    w.record_failures([{"track_id": 7, "path": "a", "stage": "decode", "reason": "empty"}])
    w.record_failures([{"track_id": 7, "path": "a", "stage": "decode", "reason": "not_audio"}])
    assert read_failures(tmp_path / "vs") == [{"track_id": 7, "path": "a", "stage": "decode", "reason": "not_audio"}]
