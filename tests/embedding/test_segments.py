"""Dense windows and the segment store (`embedding.segments`): the window grid, decoding with the audio guard rails,
and the store's files, memory and identity."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from embedding.audio import AudioError, AudioLimits
from embedding.job import SegmentPolicy
from embedding.segments import (
    STORE_MANIFEST,
    SegmentStore,
    WindowPolicy,
    embed_windows,
    load_windows,
    window_starts,
)

SR = 8_000


class CountingEncoder:
    """A deterministic stand-in with the Encoder protocol's shape: each window's vector is its spectrum's coarse
    band energies, so equal audio gives equal vectors; it counts the windows it embeds."""

    encoder_id = "counting"
    sample_rate = SR
    dim = 16
    layer = 0
    pooling = "mean"

    def __init__(self) -> None:
        self.calls = 0

    def describe(self) -> dict[str, Any]:
        return {"config_hash": "abc"}

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        self.calls += len(segments)
        spectrum = np.abs(np.fft.rfft(segments, axis=1))
        return np.stack([b.sum(axis=1) for b in np.array_split(spectrum, self.dim, axis=1)], axis=1).astype(np.float32)

    def embed_tracks(self, tracks: Any) -> np.ndarray:
        raise NotImplementedError


def _wav(seconds: float, sr: int = SR, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.3 * np.sin(2 * np.pi * (220 + 40 * np.floor(t)) * t) + 0.01 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, audio.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def test_window_grid_covers_the_track() -> None:
    assert window_starts(10.0, 4.0, 2.0).tolist() == [0.0, 2.0, 4.0, 6.0]
    # a tail the grid leaves unheard gets one window ending at the end
    assert window_starts(11.0, 4.0, 2.0).tolist() == [0.0, 2.0, 4.0, 6.0, 7.0]
    assert window_starts(3.0, 4.0, 2.0).tolist() == [0.0]
    # ... unless it is an MP3's padding (a 10-s track decodes to 10.03 s): that window would repeat the last one
    assert window_starts(10.03, 10.0, 5.0).tolist() == [0.0]
    assert window_starts(10.6, 10.0, 5.0).tolist() == pytest.approx([0.0, 0.6])


def test_policy_follows_the_library_segments() -> None:
    policy = WindowPolicy.dense(SegmentPolicy(sample_rate=SR, segment_seconds=10.0))
    assert (policy.window_seconds, policy.hop_seconds, policy.sample_rate) == (10.0, 5.0, SR)
    with pytest.raises(ValueError):
        WindowPolicy(SR, 4.0, 5.0)


def test_load_windows_decodes_the_whole_track_and_resamples() -> None:
    policy = WindowPolicy(SR, 2.0, 1.0)
    w = load_windows(_wav(9.0, sr=16_000), policy)
    assert w.windows.shape == (8, 2 * SR) and w.complete
    assert w.duration_seconds == pytest.approx(9.0)
    assert w.starts.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    capped = load_windows(_wav(9.0), WindowPolicy(SR, 2.0, 1.0, AudioLimits(max_read_seconds=5.0)))
    assert not capped.complete and capped.duration_seconds == pytest.approx(5.0)
    short = load_windows(_wav(1.5), WindowPolicy(SR, 2.0, 1.0, AudioLimits(min_seconds=1.0)))
    assert short.windows.shape == (1, 2 * SR)  # looped to one window


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"definitely not audio" * 50, "not_audio"),
        (_wav(1.0), "too_short"),
    ],
)
def test_bad_audio_is_an_audio_error(data: bytes, reason: str) -> None:
    with pytest.raises(AudioError) as err:
        load_windows(data, WindowPolicy(SR, 2.0, 1.0))
    assert err.value.reason == reason


def test_silence_is_refused() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(SR * 4, dtype=np.float32), SR, format="WAV")
    with pytest.raises(AudioError) as err:
        load_windows(buf.getvalue(), WindowPolicy(SR, 2.0, 1.0))
    assert err.value.reason == "silent"


def test_store_embeds_once_and_keeps_the_windows_on_disk(tmp_path: Path) -> None:
    track = tmp_path / "t.wav"
    track.write_bytes(_wav(8.0))
    encoder = CountingEncoder()
    policy = WindowPolicy(SR, 2.0, 1.0)
    store = SegmentStore(tmp_path / "segments", encoder, policy)
    assert store.get(7) is None
    first = store.windows(7, track)
    assert encoder.calls == 7 and first.vectors.shape == (7, 16)
    assert store.windows(7, track) is first and encoder.calls == 7  # memory
    assert (store.folder / STORE_MANIFEST).is_file() and (store.folder / "7.npz").is_file()

    again = SegmentStore(tmp_path / "segments", encoder, policy)  # a restarted process: read from disk
    found = again.windows(7, track)
    assert encoder.calls == 7
    np.testing.assert_array_equal(found.vectors, first.vectors)  # float16 on disk, the same in memory
    np.testing.assert_array_equal(found.starts, first.starts)
    direct = embed_windows(encoder, load_windows(track, policy)).vectors
    cos = (
        np.sum(found.vectors * direct, axis=1) / np.linalg.norm(found.vectors, axis=1) / np.linalg.norm(direct, axis=1)
    )
    assert np.all(cos > 0.9999)

    # another policy (or encoder) is another store: nothing is mixed up
    other = SegmentStore(tmp_path / "segments", encoder, WindowPolicy(SR, 2.0, 0.5))
    assert other.store_id != store.store_id and other.get(7) is None


def test_store_re_embeds_an_unreadable_file_and_reports_bad_audio(tmp_path: Path) -> None:
    track = tmp_path / "t.wav"
    track.write_bytes(_wav(4.0))
    encoder = CountingEncoder()
    store = SegmentStore(tmp_path / "segments", encoder, WindowPolicy(SR, 2.0, 1.0), memory_tracks=1)
    store.windows(1, track)
    (store.folder / "1.npz").write_bytes(b"torn")
    fresh = SegmentStore(tmp_path / "segments", encoder, WindowPolicy(SR, 2.0, 1.0))
    assert fresh.get(1) is None
    assert fresh.windows(1, track).vectors.shape == (3, 16)
    with pytest.raises(AudioError) as err:
        fresh.windows(2, tmp_path / "missing.wav")
    assert err.value.reason == "missing"


def test_memory_is_bounded(tmp_path: Path) -> None:
    track = tmp_path / "t.wav"
    track.write_bytes(_wav(4.0))
    store = SegmentStore(tmp_path / "s", CountingEncoder(), WindowPolicy(SR, 2.0, 1.0), memory_tracks=2)
    for tid in (1, 2, 3):
        store.windows(tid, track)
    assert list(store._memory) == [2, 3]


def test_store_refuses_a_policy_at_another_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SegmentStore(tmp_path, CountingEncoder(), WindowPolicy(16_000, 2.0, 1.0))
