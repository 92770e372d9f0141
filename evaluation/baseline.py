"""A signal-processing baseline vector set: MFCC statistics over the same segments the encoder hears.

Per segment (the `SegmentPolicy` of `museed embed`): 20 MFCCs (2048-point STFT, hop 512, 128 mel bands, librosa)
and their deltas; mean and standard deviation of each over time (80 numbers); averaged over the track's segments.
The raw statistics are z-scored per dimension over the evaluated tracks (so loudness, MFCC 0, does not dominate
the cosine), then L2-normalised, and written as an ordinary vector set (encoder id `mfcc-stats-v1`).

Layout under the baseline directory::

    <dir>/vector_set.json, shards/   the standardised vectors (what `load_vector_set` reads)
    <dir>/raw/                        raw per-track statistics, written shard by shard: an interrupted run resumes

Only MFCC and delta are used: librosa's chroma goes through numba code that crashed here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from embedding.job import SegmentPolicy, TrackAudio
from museed.errors import PipelineError
from museed.parallel import map_in_processes
from museed.vectorset import (
    MANIFEST,
    SHARDS,
    VectorSetManifest,
    VectorSetWriter,
    iter_shard_track_ids,
    load_vector_set,
    read_failures,
    read_manifest,
)

Progress = Callable[[int, int], None] | None

MFCC_ENCODER_ID: Final = "mfcc-stats-v1"
RAW_DIR: Final = "raw"
_SHARD_TRACKS: Final = 256


class BaselineError(PipelineError):
    """The baseline vector set cannot be built (e.g. tracks whose audio does not decode)."""


@dataclass(frozen=True)
class MfccConfig:
    """MFCC parameters and the segment policy; together they decide the baseline's vectors."""

    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    sample_rate: int = 24_000
    segment_seconds: float = 10.0
    n_segments: int = 3

    @classmethod
    def for_policy(cls, policy: SegmentPolicy) -> MfccConfig:
        """The default MFCC parameters over `policy`'s segments."""
        return cls(sample_rate=policy.sample_rate, segment_seconds=policy.segment_seconds, n_segments=policy.n_segments)

    @property
    def dim(self) -> int:
        """Mean and std of each MFCC and each delta."""
        return 4 * self.n_mfcc

    @property
    def config_hash(self) -> str:
        """Stable hash of every parameter (vectors with equal hashes are interchangeable)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def policy(self) -> SegmentPolicy:
        """The segment policy the statistics are computed over."""
        return SegmentPolicy(self.sample_rate, self.segment_seconds, self.n_segments)


def mfcc_statistics(segments: np.ndarray, config: MfccConfig) -> np.ndarray:
    """(n_segments, samples) mono clips -> (4 * n_mfcc,) float32: mean/std of MFCCs and deltas, averaged over clips."""
    import librosa

    per_segment = []
    for clip in np.asarray(segments, dtype=np.float32):
        mfcc = librosa.feature.mfcc(
            y=clip,
            sr=config.sample_rate,
            n_mfcc=config.n_mfcc,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
        )
        # delta needs at least `width` (9) frames; very short clips fall back to a first difference
        delta = librosa.feature.delta(mfcc) if mfcc.shape[1] >= 9 else np.gradient(mfcc, axis=1)
        per_segment.append(np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]))
    return np.mean(per_segment, axis=0).astype(np.float32)


def standardise(raw: np.ndarray) -> np.ndarray:
    """z-score every dimension over the rows (constant dimensions become 0), then L2-normalise each row."""
    from evaluation.metrics import l2_normalise

    raw = np.asarray(raw, dtype=np.float64)
    std = raw.std(axis=0)
    z = np.divide(raw - raw.mean(axis=0), std, out=np.zeros_like(raw), where=std > 0)
    return l2_normalise(z)


_JobResult = tuple[int, np.ndarray | None, int, float, dict[str, Any] | None]


def _mfcc_job(item: tuple[int, str | None, MfccConfig]) -> _JobResult:
    from embedding.audio import AudioError, load_segments

    tid, path, config = item
    if path is None:
        return tid, None, 0, 0.0, {"track_id": tid, "path": None, "stage": "decode", "reason": "missing"}
    try:
        seg = load_segments(
            Path(path),
            sample_rate=config.sample_rate,
            segment_seconds=config.segment_seconds,
            n_segments=config.n_segments,
        )
        return tid, mfcc_statistics(seg.segments, config), len(seg.segments), seg.duration_seconds, None
    except AudioError as exc:
        return tid, None, 0, 0.0, {"track_id": tid, "path": path, "stage": "decode", "reason": exc.reason}
    except Exception as exc:  # one odd file must not end a library-scale job
        reason = f"{type(exc).__name__}: {exc}"
        return tid, None, 0, 0.0, {"track_id": tid, "path": path, "stage": "mfcc", "reason": reason}


@dataclass
class BaselineReport:
    """What building (or reusing) the baseline did."""

    out: Path
    tracks: int
    computed: int = 0  # raw statistics computed in this run (the rest came from earlier runs)
    reused: bool = False
    wall_seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)


def audio_fingerprint(tracks: Sequence[TrackAudio]) -> str:
    """Hash of every track's audio file (path, size, modification time): new audio under old ids changes it."""
    digest = hashlib.sha256()
    for t in sorted(tracks, key=lambda t: t.track_id):
        try:
            st = Path(t.path).stat() if t.path else None
        except OSError:
            st = None
        digest.update(f"{t.track_id}:{t.path}:{st.st_size if st else -1}:{st.st_mtime_ns if st else -1}\n".encode())
    return digest.hexdigest()


def _source_hash(config: MfccConfig, tracks: Sequence[TrackAudio]) -> str:
    """What the baseline's vectors depend on: the MFCC parameters and the audio they were computed from."""
    return hashlib.sha256(f"{config.config_hash}|{audio_fingerprint(tracks)}".encode()).hexdigest()


def _raw_manifest(config: MfccConfig, source_hash: str) -> VectorSetManifest:
    return VectorSetManifest(
        encoder_id=f"{MFCC_ENCODER_ID}-raw",
        config_hash=source_hash,
        dim=config.dim,
        encoder={"kind": "mfcc-statistics-raw", **asdict(config), "normalise": "none (raw statistics)"},
    )


def _final_manifest(config: MfccConfig, source_hash: str) -> VectorSetManifest:
    return VectorSetManifest(
        encoder_id=MFCC_ENCODER_ID,
        config_hash=source_hash,
        dim=config.dim,
        encoder={
            "encoder_id": MFCC_ENCODER_ID,
            "kind": "mfcc-statistics",
            **asdict(config),
            "features": "mean and std over time of MFCCs and their deltas, averaged over segments",
            "normalise": "z-scored per dimension over the evaluated tracks, then L2-normalised",
        },
    )


def build_mfcc_baseline(
    tracks: Sequence[TrackAudio],
    out: Path,
    config: MfccConfig,
    *,
    workers: int = 2,
    progress: Progress = None,
) -> BaselineReport:
    """Make (or reuse) the MFCC baseline vector set of exactly `tracks` in `out`.

    Reused as is when `out` already holds this config's vectors of the same tracks and audio files (unchanged
    size and modification time); raw statistics of an interrupted run over the same tracks are resumed. Raises
    BaselineError when a track cannot be decoded (the baseline must cover the same tracks as the vector sets it is
    compared with).
    """
    started = time.perf_counter()
    out = Path(out)
    wanted = {t.track_id for t in tracks}
    source_hash = _source_hash(config, tracks)
    report = BaselineReport(out=out, tracks=len(wanted))
    if (out / MANIFEST).exists():
        current = read_manifest(out)
        if current.config_hash == source_hash and set(iter_shard_track_ids(out)) == wanted:
            report.reused = True
            report.wall_seconds = time.perf_counter() - started
            return report

    raw_dir = out / RAW_DIR
    if (raw_dir / MANIFEST).exists() and read_manifest(raw_dir).config_hash != source_hash:
        shutil.rmtree(raw_dir)  # statistics of other parameters, tracks or audio: a cache of ours, rebuilt below
    writer = VectorSetWriter(raw_dir, _raw_manifest(config, source_hash))
    done = writer.done_track_ids()
    todo = [(t.track_id, t.path, config) for t in tracks if t.track_id not in done]
    pending: tuple[list[int], list[np.ndarray], list[int], list[float]] = ([], [], [], [])
    failures: list[dict[str, Any]] = []

    def flush() -> None:
        ids, vecs, segs, durs = pending
        if ids:
            writer.write_shard(ids, np.stack(vecs), segs, durs)
            for part in pending:
                part.clear()

    def collect(result: _JobResult) -> None:
        tid, vec, n_segments, duration, failure = result
        if vec is not None:
            pending[0].append(tid)
            pending[1].append(vec)
            pending[2].append(n_segments)
            pending[3].append(duration)
            report.computed += 1
        if failure is not None:
            failures.append(failure)
        if len(pending[0]) >= _SHARD_TRACKS:
            flush()
        if progress:
            progress(report.computed + len(failures), len(todo))

    try:
        for result in map_in_processes(_mfcc_job, todo, workers):
            collect(result)
    finally:
        flush()  # keep what was computed, so a rerun resumes
        if failures:
            writer.record_failures(failures)
    raw = load_vector_set(raw_dir)
    where = raw.index_of()
    missing = sorted(wanted - set(where))
    if missing:
        reasons = {int(f["track_id"]): f.get("reason") for f in read_failures(raw_dir) if f.get("track_id") is not None}
        shown = ", ".join(f"{t} ({reasons.get(t, 'unknown')})" for t in missing[:5])
        report.failures = failures
        raise BaselineError(
            f"the MFCC baseline could not cover {len(missing)} of {len(wanted)} tracks (e.g. {shown}); "
            f"see {raw_dir / 'failures.jsonl'}"
        )
    ids = sorted(wanted)
    rows = [where[t] for t in ids]
    vectors = standardise(raw.vectors[rows])
    for stale in (out / SHARDS, out / MANIFEST):  # the standardised set is rebuilt whole from the raw statistics
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    final = VectorSetWriter(out, _final_manifest(config, source_hash))
    for start in range(0, len(ids), 4096):
        chunk = rows[start : start + 4096]
        final.write_shard(
            ids[start : start + 4096],
            vectors[start : start + 4096],
            [int(n) for n in raw.n_segments[chunk]],
            [float(d) for d in raw.duration_seconds[chunk]],
        )
    final.finish(tracks=len(ids), failures=0)
    report.wall_seconds = time.perf_counter() - started
    return report
