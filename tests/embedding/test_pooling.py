"""One pooling definition: MuQ's and MuQ-MuLan's `embed_tracks` and the Ray job's `pool_batch` agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedding.mulan import MuLanAudioEncoder
from embedding.muq_encoder import MIN_SEGMENT_SAMPLES, MuQEncoder
from embedding.pooling import l2_normalise, mean_over_time, pool_tracks
from embedding.ray_stages import pool_batch

DIM = 16


def _clip_vectors(segments: np.ndarray) -> np.ndarray:
    # a stand-in for a model: deterministic, un-normalised float32 clip vectors
    return np.ascontiguousarray(segments[:, :DIM] * 3.0 + 0.5, dtype=np.float32)


def _stub(cls: type) -> object:
    encoder = cls.__new__(cls)  # no model: only the pooling around embed_segments is under test
    encoder.dim = DIM
    encoder.embed_segments = _clip_vectors
    return encoder


@pytest.fixture
def tracks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((n, MIN_SEGMENT_SAMPLES)).astype(np.float32) for n in (1, 3, 2, 5)]


def test_the_three_callers_pool_identically(tracks: list[np.ndarray]) -> None:
    muq = _stub(MuQEncoder).embed_tracks(tracks)  # type: ignore[attr-defined]
    mulan = _stub(MuLanAudioEncoder).embed_tracks(tracks)  # type: ignore[attr-defined]
    clips = [_clip_vectors(t) for t in tracks]
    ok = np.array([True, True, False, True])
    # an object array of bytes per track, as Ray Data hands the encoder actors' output over
    blobs = np.array([c.tobytes() if good else b"" for c, good in zip(clips, ok, strict=True)], dtype=object)
    batch = {"track_id": np.arange(len(tracks)), "ok": ok, "clip_vectors_0": blobs}
    ray = pool_batch(batch, dims=[DIM])["vector_0"]

    assert muq.dtype == mulan.dtype == ray.dtype == np.float32
    assert np.array_equal(muq, mulan)
    assert np.array_equal(ray[ok], muq[ok])
    assert not ray[~ok].any()  # a failed track pools to zeros
    # and all of them are the one definition: float32 mean over clips, then x / max(||x||, 1e-12)
    expected = np.stack([c.mean(axis=0) for c in clips]).astype(np.float32)
    expected = (expected / np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    assert np.array_equal(muq, expected)
    assert np.allclose(np.linalg.norm(muq, axis=1), 1.0, atol=1e-6)


def test_l2_normalise_keeps_zero_rows_and_the_requested_dtype() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert np.array_equal(l2_normalise(x, dtype=np.float64), np.array([[0.6, 0.8], [0.0, 0.0]]))
    assert l2_normalise(x).dtype == np.float32
    assert pool_tracks([None, np.ones((2, 2), dtype=np.float32)], 2).tolist()[0] == [0.0, 0.0]


def test_mean_over_time_is_the_frame_mean() -> None:
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    assert torch.equal(mean_over_time(hidden), hidden.mean(dim=1))
