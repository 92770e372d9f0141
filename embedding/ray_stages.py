"""The Ray Data pipeline's stages: decode in CPU tasks, encode in actors, pool in CPU tasks.

Module-level functions and a callable class, so Ray pickles them by reference; torch and the encoders are
imported only inside `EncoderActor`, so the decode and pooling tasks never pay for them. The driver that
wires them together is `embedding.ray_job.embed_ray`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedding.audio import AudioError, load_segments
from embedding.job import SegmentPolicy
from embedding.pooling import pool_tracks

if TYPE_CHECKING:
    from museed.settings import Settings


def decode_batch(batch: dict[str, np.ndarray], policy: SegmentPolicy) -> dict[str, np.ndarray]:
    """Decode a batch of tracks into clip bytes; a track that cannot be decoded becomes a failure row."""
    n = len(batch["track_id"])
    ok = np.zeros(n, dtype=bool)
    segments = np.empty(n, dtype=object)
    n_segments = np.zeros(n, dtype=np.int32)
    samples = np.zeros(n, dtype=np.int64)
    duration = np.zeros(n, dtype=np.float32)
    audio_seconds = np.zeros(n, dtype=np.float64)
    decode_seconds = np.zeros(n, dtype=np.float64)
    stage = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    for i, path in enumerate(batch["path"]):
        t0 = time.perf_counter()
        segments[i] = b""
        try:
            if not path:
                raise AudioError("missing", "the catalog lists this track but its audio file is absent")
            seg = load_segments(
                Path(str(path)),
                sample_rate=policy.sample_rate,
                segment_seconds=policy.segment_seconds,
                n_segments=policy.n_segments,
                limits=policy.limits,
            )
        except AudioError as exc:
            stage[i], reason[i], detail[i] = "decode", exc.reason, str(exc)
        except Exception as exc:  # a decoder bug on one file must not end a library-scale job
            stage[i], reason[i], detail[i] = "decode", "decoder_error", f"{type(exc).__name__}: {exc}"
        else:
            clips = np.ascontiguousarray(seg.segments, dtype=np.float32)
            ok[i] = True
            segments[i] = clips.tobytes()
            n_segments[i], samples[i] = clips.shape
            duration[i] = seg.duration_seconds
            audio_seconds[i] = clips.shape[0] * clips.shape[1] / seg.sample_rate
        decode_seconds[i] = time.perf_counter() - t0
    return {
        "track_id": np.asarray(batch["track_id"], dtype=np.int64),
        "path": np.asarray([str(p) if p else "" for p in batch["path"]], dtype=object),
        "ok": ok,
        "segments": segments,
        "n_segments": n_segments,
        "segment_samples": samples,
        "duration_seconds": duration,
        "audio_seconds": audio_seconds,
        "decode_seconds": decode_seconds,
        "stage": stage,
        "reason": reason,
        "detail": detail,
    }


class EncoderActor:
    """A Ray Data callable class: loads one encoder once per actor and turns clip bytes into clip vectors."""

    def __init__(
        self,
        spec: str,
        index: int,
        settings: Settings,
        torch_threads: int | None,
        batch_size: int,
        drop_audio: bool,
    ) -> None:
        import torch

        from embedding.encoders import load_encoder

        if torch_threads:
            # one actor per core beats two actors fighting over every core
            torch.set_num_threads(torch_threads)
        self.encoder = load_encoder(spec, settings=settings, batch_size=batch_size)
        self.index = index
        self.drop_audio = drop_audio

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add `clip_vectors_<index>` (float32 bytes, n_segments x dim per track) to each row."""
        n = len(batch["track_id"])
        out = dict(batch)
        column = np.empty(n, dtype=object)
        column[:] = [b""] * n
        ok = np.asarray(batch["ok"], dtype=bool).copy()
        rows = [i for i in range(n) if ok[i]]
        by_length: dict[int, list[int]] = {}
        for i in rows:
            by_length.setdefault(int(batch["segment_samples"][i]), []).append(i)
        stage = np.asarray(batch["stage"], dtype=object).copy()
        reason = np.asarray(batch["reason"], dtype=object).copy()
        detail = np.asarray(batch["detail"], dtype=object).copy()
        for length, indices in by_length.items():
            clips = [
                np.frombuffer(batch["segments"][i], dtype=np.float32).reshape(int(batch["n_segments"][i]), length)
                for i in indices
            ]
            try:
                vectors = self.encoder.embed_segments(np.concatenate(clips))
            except Exception as exc:  # one bad batch must not end a library-scale job
                for i in indices:
                    ok[i] = False
                    stage[i], reason[i] = "encode", "encoder_error"
                    detail[i] = f"{self.encoder.encoder_id}: {type(exc).__name__}: {exc}"
                continue
            offset = 0
            for i, c in zip(indices, clips, strict=True):
                column[i] = np.ascontiguousarray(vectors[offset : offset + len(c)], dtype=np.float32).tobytes()
                offset += len(c)
        out[f"clip_vectors_{self.index}"] = column
        out["ok"], out["stage"], out["reason"], out["detail"] = ok, stage, reason, detail
        if self.drop_audio:
            # the audio has been heard by every encoder: do not ship it further
            del out["segments"]
        return out


def pool_batch(batch: dict[str, np.ndarray], dims: list[int]) -> dict[str, np.ndarray]:
    """CPU post-processing: average each track's clip vectors and L2-normalise (`embedding.pooling.pool_tracks`,
    exactly as `embed_tracks`); a failed track gets a zero vector."""
    n = len(batch["track_id"])
    out = {k: v for k, v in batch.items() if not k.startswith("clip_vectors_")}
    ok = np.asarray(batch["ok"], dtype=bool)
    for k, dim in enumerate(dims):
        clip_vectors = [
            np.frombuffer(batch[f"clip_vectors_{k}"][i], dtype=np.float32).reshape(-1, dim) if ok[i] else None
            for i in range(n)
        ]
        out[f"vector_{k}"] = pool_tracks(clip_vectors, dim)
    return out
