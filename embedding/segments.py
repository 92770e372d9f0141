"""Dense windows: a track's audio cut into overlapping windows and embedded window by window, for the reference
finder and the "why, and where" highlights; and the segment store that keeps them per encoder.

The library's vector set hears 3 clips per track (`embedding.audio.load_segments`), which is enough for a pooled
vector but not for "where": a passage lifted from minute 2 of a track lies in none of them. Here the whole track
(up to `AudioLimits.max_read_seconds`) is decoded and cut into windows of the library's segment length at half
that hop, so any passage of a window's length overlaps a window by at least three quarters.

Why on demand with a store, rather than a second embedding pass over the library (measured in docs/DISCOVERY.md):
dense windows cost about 2 x duration / segment_seconds clips per track (53 for an average 4.5-minute FMA track at
10 s windows, against the 3 clips of the vector set), so a library-wide pass would cost about 18 times the
embedding job and, for 106,574 tracks at 1024-d float16, about 11 GB; the reference finder reads a shortlist of
a few tracks per request. So the windows of a track are embedded the first time a request needs them and then
kept (`SegmentStore`, one small file per track and encoder, plus an in-process LRU), and `SegmentStore.fill` is
the same function for a batch job that wants to pre-fill the store on a GPU. That batch job exists for "which
library recording is this?" (`GET /api/uploads/{id}/matches`), which must search every window of every track:
`museed windows` fills the store and the window collection (`indexing.windows`) from it; its cost at FMA scale is
in docs/EMBEDDING.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

from embedding.audio import SILENCE_RMS, AudioError, AudioLimits, _check_source, _open_decoder

if TYPE_CHECKING:
    from embedding.base import Encoder
    from embedding.job import SegmentPolicy
    from museed.settings import Settings

#: windows overlap by half: a passage one window long overlaps some window by at least 3/4 of its length
HOP_FRACTION = 0.5
STORE_MANIFEST = "segments.json"
#: tracks whose windows are kept in memory per store
MEMORY_TRACKS = 256
#: a tail the window grid leaves unheard gets a window of its own from this share of a window on: a shorter one
#: is an MP3's padding (a 10-s track decodes to 10.03 s), and its window would repeat the last one
MIN_TAIL_FRACTION = 0.05


@dataclass(frozen=True)
class WindowPolicy:
    """How a track is cut into dense windows: `window_seconds` long, every `hop_seconds`, at `sample_rate`."""

    sample_rate: int
    window_seconds: float
    hop_seconds: float
    limits: AudioLimits = field(default_factory=AudioLimits)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.window_seconds <= 0 or not 0 < self.hop_seconds <= self.window_seconds:
            raise ValueError("sample_rate and window_seconds must be positive and 0 < hop_seconds <= window_seconds")

    @classmethod
    def dense(cls, policy: SegmentPolicy, hop_fraction: float = HOP_FRACTION) -> WindowPolicy:
        """Windows of the library's segment length (so a window vector is comparable with the library's clip
        vectors) at `hop_fraction` of it, with the policy's rate and limits."""
        return cls(
            sample_rate=policy.sample_rate,
            window_seconds=policy.segment_seconds,
            hop_seconds=policy.segment_seconds * hop_fraction,
            limits=policy.limits,
        )

    @classmethod
    def library(cls, settings: Settings, sample_rate: int) -> WindowPolicy:
        """The dense windows of library tracks the settings ask for, at an encoder's `sample_rate`: the one policy
        the reference finder, the window index and its fill job share."""
        from embedding.job import SegmentPolicy

        return cls.dense(SegmentPolicy.from_settings(settings, sample_rate=sample_rate))

    def key(self) -> str:
        """The policy as text (part of a segment store's identity)."""
        return f"{self.sample_rate}Hz/{self.window_seconds:g}s/{self.hop_seconds:g}s"


@dataclass(frozen=True)
class WindowedAudio:
    """A track's dense windows, ready for an encoder."""

    windows: np.ndarray  # float32 (n, window samples), mono, at the policy's rate
    starts: np.ndarray  # float64 (n,): seconds into the track
    window_seconds: float
    duration_seconds: float  # the decoded audio (at most limits.max_read_seconds)
    complete: bool  # False when the read stopped at limits.max_read_seconds


def window_starts(duration: float, window: float, hop: float) -> np.ndarray:
    """Start times of the windows over `duration` seconds: every `hop` seconds while a whole window fits, plus one
    window ending at the end when the grid leaves at least `MIN_TAIL_FRACTION` of a window unheard (one window at
    0 for audio shorter than one)."""
    if duration <= window:
        return np.zeros(1)
    n = math.floor((duration - window) / hop + 1e-9) + 1
    starts = hop * np.arange(n, dtype=np.float64)
    tail = duration - window
    if tail - starts[-1] >= MIN_TAIL_FRACTION * window:
        starts = np.append(starts, tail)
    return starts


def load_windows(source: Path | str | bytes, policy: WindowPolicy) -> WindowedAudio:
    """Decode `source` (a path or an upload's bytes) from the start, at most `policy.limits.max_read_seconds`, and
    cut it into dense windows. Audio shorter than one window is looped to one window (as `load_segments` does).
    Every kind of bad input is an `AudioError` with the same reasons as `load_segments`."""
    limits = policy.limits
    data, path = _check_source(source, limits)
    with _open_decoder(data, path) as decoder:
        sr_in = decoder.samplerate
        cap = max(1, int(limits.max_read_seconds * sr_in))
        if decoder.frames == 0:
            raise AudioError("empty", "the file holds no audio samples")
        audio = decoder.read_from_start(cap)
    complete = len(audio) < cap
    if len(audio) == 0:
        raise AudioError("empty", "the file holds no decodable audio samples")
    seconds = len(audio) / sr_in
    if seconds < limits.min_seconds:
        raise AudioError("too_short", f"audio is {seconds:.1f} s long; at least {limits.min_seconds:.1f} s is needed")
    if not np.isfinite(audio).all():
        raise AudioError("non_finite", "the audio contains NaN or infinite sample values")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms < SILENCE_RMS:
        raise AudioError("silent", f"the {seconds:.1f} s of audio read are digital silence (RMS {rms:.1e})")
    if sr_in != policy.sample_rate:
        audio = soxr.resample(audio, sr_in, policy.sample_rate, quality="HQ").astype(np.float32, copy=False)
    sr = policy.sample_rate
    win = max(1, round(policy.window_seconds * sr))
    starts = window_starts(seconds, policy.window_seconds, policy.hop_seconds)
    windows = np.empty((len(starts), win), dtype=np.float32)
    for row, start in enumerate(starts):
        at = round(start * sr)
        # np.resize loops a clip shorter than a window and absorbs +-1 sample rounding at the end
        windows[row] = np.resize(audio[at : at + win], win)
    return WindowedAudio(
        windows=windows,
        starts=starts,
        window_seconds=policy.window_seconds,
        duration_seconds=seconds,
        complete=complete,
    )


@dataclass(frozen=True)
class TrackWindows:
    """Window vectors of one track and where each window lies (seconds): what the passage finder compares."""

    vectors: np.ndarray  # float32 (n, dim), not normalised
    starts: np.ndarray  # float64 (n,)
    ends: np.ndarray  # float64 (n,)
    duration_seconds: float


def embed_windows(encoder: Encoder, audio: WindowedAudio) -> TrackWindows:
    """The encoder's clip vector of every window (the same vectors `embed_segments` gives the library's clips)."""
    vectors = np.asarray(encoder.embed_segments(audio.windows), dtype=np.float32)
    return TrackWindows(
        vectors=vectors,
        starts=audio.starts,
        ends=audio.starts + audio.window_seconds,
        duration_seconds=audio.duration_seconds,
    )


class SegmentStore:
    """Dense window vectors of library tracks for one (encoder, window policy): one `.npz` per track under
    `<root>/<store id>/`, written atomically the first time a track is asked for, with a `segments.json` naming
    what made them, and the most recent tracks kept in memory. Safe for the threads of one process; processes
    sharing the directory at worst embed a track twice."""

    def __init__(self, root: Path, encoder: Encoder, policy: WindowPolicy, memory_tracks: int = MEMORY_TRACKS) -> None:
        if policy.sample_rate != encoder.sample_rate:
            raise ValueError(f"{encoder.encoder_id} takes {encoder.sample_rate} Hz, the policy {policy.sample_rate}")
        self.encoder = encoder
        self.policy = policy
        desc = encoder.describe()
        identity = f"{encoder.encoder_id}|{desc.get('config_hash', '')}|{encoder.dim}|{policy.key()}"
        self.store_id = hashlib.sha256(identity.encode()).hexdigest()[:12]
        self.folder = Path(root) / self.store_id
        self._manifest = {
            "store_id": self.store_id,
            "encoder_id": encoder.encoder_id,
            "config_hash": desc.get("config_hash"),
            "dim": encoder.dim,
            "window_seconds": policy.window_seconds,
            "hop_seconds": policy.hop_seconds,
            "sample_rate": policy.sample_rate,
        }
        self._memory: OrderedDict[int, TrackWindows] = OrderedDict()
        self._memory_tracks = memory_tracks
        self._lock = threading.Lock()

    def _file(self, track_id: int) -> Path:
        return self.folder / f"{int(track_id)}.npz"

    @property
    def manifest(self) -> dict[str, object]:
        """What made this store's windows (store id, encoder, config hash, dim, window policy)."""
        return dict(self._manifest)

    @classmethod
    def for_library(cls, settings: Settings, encoder: Encoder) -> SegmentStore:
        """The store of library windows the API serves from (`<data_dir>/segments`, `WindowPolicy.library`)."""
        return cls(settings.data_dir / "segments", encoder, WindowPolicy.library(settings, encoder.sample_rate))

    def get(self, track_id: int) -> TrackWindows | None:
        """The stored windows of a track (memory, then disk), or None when they were never embedded."""
        with self._lock:
            if track_id in self._memory:
                self._memory.move_to_end(track_id)
                return self._memory[track_id]
        file = self._file(track_id)
        if not file.is_file():
            return None
        try:
            with np.load(file) as z:
                found = TrackWindows(
                    vectors=z["vectors"].astype(np.float32),
                    starts=z["starts"].astype(np.float64),
                    ends=z["ends"].astype(np.float64),
                    duration_seconds=float(z["duration_seconds"]),
                )
        except (OSError, ValueError, KeyError):  # an unreadable file is embedded again, not served
            return None
        self._remember(track_id, found)
        return found

    def fill(self, track_id: int, audio_path: Path | str) -> TrackWindows:
        """Decode and embed a track's windows and store them (AudioError for audio that cannot be used)."""
        found = embed_windows(self.encoder, load_windows(Path(audio_path), self.policy))
        # float16 on disk: a stored window's cosines move by < 1e-3 and the store halves; memory holds the same
        half = found.vectors.astype(np.float16)
        found = replace(found, vectors=half.astype(np.float32))
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / STORE_MANIFEST
        if not manifest.exists():
            _atomic_write(manifest, json.dumps(self._manifest, indent=2).encode())
        tmp = self.folder / f".{int(track_id)}.{uuid.uuid4().hex[:8]}.tmp.npz"
        np.savez(
            tmp,
            vectors=half,
            starts=found.starts,
            ends=found.ends,
            duration_seconds=np.float64(found.duration_seconds),
        )
        os.replace(tmp, self._file(track_id))
        self._remember(track_id, found)
        return found

    def windows(self, track_id: int, audio_path: Path | str) -> TrackWindows:
        """A track's windows: stored ones, or embedded now (and stored)."""
        return self.get(track_id) or self.fill(track_id, audio_path)

    def _remember(self, track_id: int, found: TrackWindows) -> None:
        with self._lock:
            self._memory[track_id] = found
            self._memory.move_to_end(track_id)
            while len(self._memory) > self._memory_tracks:
                self._memory.popitem(last=False)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
