"""Embedding a track list into a vector set: the single-process loop (the baseline and the small-set path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedding.audio import AudioError, AudioLimits, load_segments
from museed.errors import PipelineError
from museed.vectorset import VectorSetManifest, VectorSetWriter

if TYPE_CHECKING:
    from embedding.base import Encoder
    from museed.catalog import Catalog
    from museed.settings import Settings


class EmbedJobError(PipelineError):
    """An embedding run was asked for something it cannot do (two encoders writing one directory, a batch of 0)."""


@dataclass(frozen=True)
class TrackAudio:
    """One track to embed: its id and where its audio is (None when the catalog found no file)."""

    track_id: int
    path: str | None


def catalog_tracks(catalog: Catalog, limit: int | None = None) -> list[TrackAudio]:
    """Every listed track as a `TrackAudio`, in catalog order (missing audio included: the job records it as a
    failure); what `museed embed` feeds its engines."""
    items = [TrackAudio(track_id=tid, path=path) for tid, path in catalog.audio_paths().items()]
    return items[:limit] if limit else items


@dataclass(frozen=True)
class SegmentPolicy:
    """How much of each track the encoder hears: `n_segments` clips of `segment_seconds` spread over it."""

    sample_rate: int = 24_000
    segment_seconds: float = 10.0
    n_segments: int = 3
    limits: AudioLimits = field(default_factory=AudioLimits)

    @classmethod
    def from_settings(cls, settings: Settings, sample_rate: int | None = None) -> SegmentPolicy:
        """The policy the settings ask for (`MUSEED_SEGMENT_SECONDS`, `MUSEED_SEGMENTS_PER_TRACK`): the one place
        it is built for library embedding, uploads, tagging and evaluation. `sample_rate` is the encoder's."""
        return cls(
            sample_rate=int(sample_rate if sample_rate is not None else settings.sample_rate),
            segment_seconds=float(settings.segment_seconds),
            n_segments=int(settings.segments_per_track),
        )


@dataclass
class EmbedReport:
    """What an embedding run did."""

    out: Path
    encoder_id: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    decode_seconds: float = 0.0
    audio_seconds: float = 0.0
    failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def tracks_per_second(self) -> float:
        """Embedded tracks per wall-clock second."""
        return self.done / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def audio_seconds_per_second(self) -> float:
        """Seconds of audio heard by the encoder per wall-clock second."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def summary_lines(self) -> list[str]:
        """Human-readable summary for the CLI."""
        lines = [
            f"vectors: {self.out}  (encoder {self.encoder_id})",
            f"tracks embedded {self.done}, skipped (already done) {self.skipped}, failed {self.failed}",
            f"{self.tracks_per_second:.2f} tracks/s, {self.audio_seconds_per_second:.1f} audio-s/s, "
            f"wall {self.wall_seconds:.1f} s (decode {self.decode_seconds:.1f} s)",
        ]
        if self.failure_reasons:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.failure_reasons.items()))
            lines.append(f"failures by reason: {reasons} (see failures.jsonl)")
        return lines


def manifest_for(encoder: Encoder) -> VectorSetManifest:
    """The vector-set manifest describing vectors made by `encoder`."""
    desc = encoder.describe()
    return VectorSetManifest(
        encoder_id=encoder.encoder_id, config_hash=str(desc["config_hash"]), dim=encoder.dim, encoder=desc
    )


def embed_plain(
    tracks: Sequence[TrackAudio],
    encoder: Encoder,
    out: Path,
    policy: SegmentPolicy | None = None,
    batch_tracks: int = 8,
    shard_tracks: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Decode and embed `tracks` one batch at a time in this process; resumable, failures recorded, never dies."""
    policy = policy or SegmentPolicy(sample_rate=encoder.sample_rate)
    if policy.sample_rate != encoder.sample_rate:  # audio at another rate would embed as nonsense, silently
        raise EmbedJobError(
            f"{encoder.encoder_id} expects {encoder.sample_rate} Hz; the policy decodes at {policy.sample_rate}"
        )
    started = time.perf_counter()
    writer = VectorSetWriter(out, manifest_for(encoder))
    already = writer.done_track_ids()
    todo = [t for t in tracks if t.track_id not in already]
    report = EmbedReport(out=Path(out), encoder_id=encoder.encoder_id, skipped=len(tracks) - len(todo))

    pending_ids: list[int] = []
    pending_vecs: list[np.ndarray] = []
    pending_segs: list[int] = []
    pending_durs: list[float] = []

    def flush() -> None:
        if pending_ids:
            writer.write_shard(pending_ids, np.stack(pending_vecs), pending_segs, pending_durs)
            for pending in (pending_ids, pending_vecs, pending_segs, pending_durs):
                pending.clear()

    for start in range(0, len(todo), batch_tracks):
        batch = todo[start : start + batch_tracks]
        decoded: list[np.ndarray] = []
        ids: list[int] = []
        durs: list[float] = []
        failures: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for item in batch:
            try:
                if item.path is None:
                    raise AudioError("missing", "the catalog lists this track but its audio file is absent")
                seg = load_segments(
                    Path(item.path),
                    sample_rate=policy.sample_rate,
                    segment_seconds=policy.segment_seconds,
                    n_segments=policy.n_segments,
                    limits=policy.limits,
                )
            except AudioError as exc:
                failures.append(
                    {
                        "track_id": item.track_id,
                        "path": item.path,
                        "stage": "decode",
                        "reason": exc.reason,
                        "detail": str(exc),
                    }
                )
                continue
            decoded.append(seg.segments)
            ids.append(item.track_id)
            durs.append(seg.duration_seconds)
            report.audio_seconds += seg.segments.shape[0] * seg.segments.shape[1] / seg.sample_rate
        report.decode_seconds += time.perf_counter() - t0
        if decoded:
            try:
                vecs = encoder.embed_tracks(decoded)
            except Exception as exc:  # one bad batch must not end a library-scale job
                failures.extend(
                    {
                        "track_id": t,
                        "path": None,
                        "stage": "encode",
                        "reason": "encoder_error",
                        "detail": f"{type(exc).__name__}: {exc}",
                    }
                    for t in ids
                )
            else:
                pending_ids.extend(ids)
                pending_vecs.extend(vecs)
                pending_segs.extend(d.shape[0] for d in decoded)
                pending_durs.extend(durs)
                report.done += len(ids)
        if failures:
            writer.record_failures(failures)
            report.failed += len(failures)
            for f in failures:
                reason = str(f["reason"])
                report.failure_reasons[reason] = report.failure_reasons.get(reason, 0) + 1
        if len(pending_ids) >= shard_tracks:
            flush()
        if progress:
            progress(min(start + batch_tracks, len(todo)), len(todo))
    flush()
    total_done = len(already) + report.done
    writer.finish(tracks=total_done, failures=report.failed)
    report.wall_seconds = time.perf_counter() - started
    return report
