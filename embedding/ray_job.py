"""Embedding at library scale: the Ray Data job (decode in CPU tasks -> encoder actors -> pooling -> shards).

The pipeline follows Ray's e2e-audio curation example::

    from_items(track ids + paths, many small blocks)          streamed, never materialised
      -> map_batches(decode_batch)          CPU tasks         load_segments: 24 kHz mono clips, or a failure row
      -> map_batches(EncoderActor, k=0..)   actor pool        each encoder loaded ONCE per actor, GPU if asked
      -> map_batches(pool_batch)            CPU tasks         clip vectors -> mean -> L2 (GPUs never wait on it)
      -> driver: iter_batches               one writer        Parquet shards in the vector-set format + failures

Shards are written by the driver through `VectorSetWriter`, so they are the same atomic `part-*.parquet` files
the single-process loop writes, work on any cluster without a shared filesystem, and a resumed run (after a
`kill -9`) skips every track already in a complete shard of either engine. Several encoders (e.g. MuQ and the
MuQ-MuLan audio tower) share one decode pass: each gets its own actor pool and its own vector set.
Decode and encode failures travel through the pipeline as rows with a stage and a reason and end up in
`failures.jsonl`; no single bad file can end the job.

The stages are in `embedding.ray_stages`, starting Ray in `embedding.ray_runtime`; their public names stay
importable from here.
"""

from __future__ import annotations

import functools
import math
import os
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedding.job import EmbedJobError, EmbedReport, SegmentPolicy, TrackAudio, manifest_for
from embedding.ray_runtime import RAY_START_ATTEMPTS, init_ray, quiet_ray_data
from embedding.ray_stages import EncoderActor, decode_batch, pool_batch
from museed.vectorset import VectorSetWriter, load_vector_set

if TYPE_CHECKING:
    from museed.settings import Settings

__all__ = [
    "DEFAULT_BLOCK_TRACKS",
    "RAY_START_ATTEMPTS",
    "EncoderActor",
    "EncoderTarget",
    "RayEmbedReport",
    "decode_batch",
    "embed_ray",
    "init_ray",
    "pool_batch",
    "write_npy_for",
]

DEFAULT_BLOCK_TRACKS = 8  # tracks per input block: small blocks stream steadily and bound the audio in flight


@dataclass
class RayEmbedReport(EmbedReport):
    """The primary vector set's report plus one per extra encoder fed from the same decode pass."""

    also: list[EmbedReport] = field(default_factory=list)
    engine: str = "ray"

    def summary_lines(self) -> list[str]:
        """Human-readable summary for the CLI (every vector set of the pass)."""
        lines = super().summary_lines()
        for extra in self.also:
            lines.extend(extra.summary_lines())
        return lines


@dataclass(frozen=True)
class EncoderTarget:
    """One encoder of a pass and the vector set it fills."""

    spec: str
    out: Path


def _write_npy(npy_dir: Path, track_id: int, vector: np.ndarray) -> None:
    # atomic like the shards: a killed job never leaves a half-written .npy
    tmp = npy_dir / f".{track_id}.{uuid.uuid4().hex[:8]}.tmp.npy"
    np.save(tmp, np.asarray(vector, dtype=np.float32))
    os.replace(tmp, npy_dir / f"{track_id}.npy")


def write_npy_for(npy_dir: Path, out: Path, track_ids: set[int]) -> None:
    """Write `<track_id>.npy` (the pooled, L2-normalised vector) for tracks of the set at `out` lacking one."""
    npy_dir.mkdir(parents=True, exist_ok=True)
    missing = {t for t in track_ids if not (npy_dir / f"{t}.npy").exists()}
    if not missing or not any((out / "shards").glob("part-*.parquet")):
        return
    vs = load_vector_set(out)
    for tid, vec in zip(vs.track_ids, vs.vectors, strict=True):
        if int(tid) in missing:
            _write_npy(npy_dir, int(tid), vec)


def embed_ray(
    tracks: Sequence[TrackAudio],
    encoder_spec: str,
    out: Path,
    policy: SegmentPolicy | None = None,
    *,
    also: Sequence[tuple[str, Path]] = (),
    settings: Settings | None = None,
    ray_address: str | None = None,
    num_gpus_per_actor: float | None = None,
    concurrency: int | None = None,
    batch_size: int = 8,
    decode_concurrency: int | None = None,
    torch_threads: int | None = None,
    npy_dir: Path | None = None,
    shard_tracks: int = 256,
    block_tracks: int = DEFAULT_BLOCK_TRACKS,
    progress: Callable[[int, int], None] | None = None,
) -> RayEmbedReport:
    """Embed `tracks` with a Ray Data pipeline into the vector set at `out` (and one set per `also` encoder).

    Resumable: tracks already in a complete shard of a set (written by either engine, same encoder) are
    skipped for that set. `num_gpus_per_actor` defaults to 1 when CUDA is visible here, else 0;
    `concurrency` (encoder actors per encoder) defaults to the GPU count on GPU, else one actor per two
    cores; `torch_threads` per actor defaults to cores / actors on CPU. `npy_dir` also receives one
    `<track_id>.npy` per track (the primary encoder's pooled, L2-normalised vector). Starts a local Ray
    instance unless one is running or `ray_address` names a cluster; stops only what it started.
    """
    import ray
    import torch

    from embedding.encoders import load_encoder
    from museed.settings import get_settings

    started = time.perf_counter()
    settings = settings or get_settings()
    targets = [EncoderTarget(encoder_spec, Path(out))] + [EncoderTarget(s, Path(o)) for s, o in also]
    if len({t.out.resolve() for t in targets}) != len(targets):
        raise EmbedJobError("every encoder needs its own output directory")
    if batch_size < 1 or shard_tracks < 1 or block_tracks < 1:
        raise EmbedJobError("batch_size, shard_tracks and block_tracks must be >= 1")

    # the driver loads each encoder once (CPU) for its manifest: the vector_set_id decides what to skip
    writers: list[VectorSetWriter] = []
    dims: list[int] = []
    encoder_ids: list[str] = []
    sample_rate = policy.sample_rate if policy else None
    for target in targets:
        encoder = load_encoder(target.spec, settings=settings, device="cpu")
        if sample_rate is not None and encoder.sample_rate != sample_rate:
            raise EmbedJobError(
                f"{encoder.encoder_id} expects {encoder.sample_rate} Hz; the policy decodes at {sample_rate}"
            )
        sample_rate = encoder.sample_rate
        writers.append(VectorSetWriter(target.out, manifest_for(encoder)))
        dims.append(encoder.dim)
        encoder_ids.append(encoder.encoder_id)
        del encoder
    policy = policy or SegmentPolicy.from_settings(settings, sample_rate=int(sample_rate or 24_000))

    done_sets = [w.done_track_ids() for w in writers]
    reports = [
        EmbedReport(out=t.out, encoder_id=eid, skipped=sum(1 for tr in tracks if tr.track_id in done))
        for t, eid, done in zip(targets, encoder_ids, done_sets, strict=True)
    ]
    # a track is decoded when any set still lacks it; each set only takes the tracks it lacks
    todo = [t for t in tracks if any(t.track_id not in done for done in done_sets)]
    if npy_dir is not None:
        npy_dir = Path(npy_dir)
        npy_dir.mkdir(parents=True, exist_ok=True)
        write_npy_for(npy_dir, targets[0].out, {t.track_id for t in tracks if t.track_id in done_sets[0]})

    primary = RayEmbedReport(out=targets[0].out, encoder_id=encoder_ids[0], skipped=reports[0].skipped)
    if todo:
        started_ray = init_ray(ray_address)
        try:
            _run_pipeline(
                todo,
                targets,
                writers,
                done_sets,
                dims,
                reports,
                policy,
                settings=settings,
                num_gpus_per_actor=(
                    num_gpus_per_actor
                    if num_gpus_per_actor is not None
                    else (1.0 if torch.cuda.is_available() else 0.0)
                ),
                concurrency=concurrency,
                batch_size=batch_size,
                decode_concurrency=decode_concurrency,
                torch_threads=torch_threads,
                npy_dir=npy_dir,
                shard_tracks=shard_tracks,
                block_tracks=block_tracks,
                progress=progress,
            )
        finally:
            if started_ray:
                ray.shutdown()
    elif progress:
        progress(0, 0)

    wall = time.perf_counter() - started
    for rep, writer, done in zip(reports, writers, done_sets, strict=True):
        rep.wall_seconds = wall
        writer.finish(tracks=len(done) + rep.done, failures=rep.failed)
    head = reports[0]
    primary.done, primary.failed = head.done, head.failed
    primary.decode_seconds, primary.audio_seconds = head.decode_seconds, head.audio_seconds
    primary.failure_reasons = head.failure_reasons
    primary.wall_seconds = wall
    primary.also = reports[1:]
    return primary


def _run_pipeline(
    todo: list[TrackAudio],
    targets: list[EncoderTarget],
    writers: list[VectorSetWriter],
    done_sets: list[set[int]],
    dims: list[int],
    reports: list[EmbedReport],
    policy: SegmentPolicy,
    *,
    settings: Settings,
    num_gpus_per_actor: float,
    concurrency: int | None,
    batch_size: int,
    decode_concurrency: int | None,
    torch_threads: int | None,
    npy_dir: Path | None,
    shard_tracks: int,
    block_tracks: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    import ray
    import ray.data

    quiet_ray_data()
    resources = ray.cluster_resources()
    cpus = max(1.0, float(resources.get("CPU", os.cpu_count() or 1)))
    gpus = float(resources.get("GPU", 0.0))
    n_enc = len(targets)
    if num_gpus_per_actor > 0:
        actors = concurrency or max(1, int(gpus // num_gpus_per_actor) // n_enc)
        actor_cpus = 1.0
        decode_cpus = 1.0
        threads = torch_threads
    else:
        actors = concurrency or max(1, int(cpus) // 2)
        threads = torch_threads or max(1, int(cpus) // (actors * n_enc))
    decoders = decode_concurrency or max(1, int(cpus))
    if num_gpus_per_actor <= 0:
        # logical CPUs are only a scheduling budget; it must leave room for every stage at once, or the
        # pooling tasks wait for the whole decode stage to finish and nothing streams
        actor_cpus = min(1.0, 0.6 * cpus / (actors * n_enc))
        decode_cpus = 0.3 * cpus / decoders

    items = [{"track_id": t.track_id, "path": t.path or ""} for t in todo]
    ds: ray.data.Dataset = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / block_tracks)))
    ds = ds.map_batches(
        functools.partial(decode_batch, policy=policy),
        batch_size=block_tracks,
        batch_format="numpy",
        num_cpus=decode_cpus,
        compute=ray.data.TaskPoolStrategy(size=decoders),
    )
    for k, target in enumerate(targets):
        ds = ds.map_batches(
            EncoderActor,
            fn_constructor_kwargs={
                "spec": target.spec,
                "index": k,
                "settings": settings,
                "torch_threads": threads,
                # one forward pass per batch of tracks: every clip of the batch goes through together
                "batch_size": batch_size * policy.n_segments,
                "drop_audio": k == n_enc - 1,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus,
            num_gpus=num_gpus_per_actor,
        )
    ds = ds.map_batches(
        functools.partial(pool_batch, dims=dims),
        batch_size=None,
        batch_format="numpy",
        num_cpus=0.05,
        compute=ray.data.TaskPoolStrategy(size=2),
    )

    pending: list[dict[str, list[Any]]] = [{"ids": [], "vecs": [], "segs": [], "durs": []} for _ in targets]

    def flush(k: int, force: bool = False) -> None:
        buf = pending[k]
        if buf["ids"] and (force or len(buf["ids"]) >= shard_tracks):
            writers[k].write_shard(buf["ids"], np.stack(buf["vecs"]), buf["segs"], buf["durs"])
            for values in buf.values():
                values.clear()

    with warnings.catch_warnings():
        # small sets have fewer blocks than the task-pool sizes; Ray warns about it, nothing is wrong
        warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks")
        _drain(ds, writers, done_sets, reports, pending, flush, npy_dir, len(todo), progress)
    for k in range(len(targets)):
        flush(k, force=True)


def _drain(
    ds: Any,
    writers: list[VectorSetWriter],
    done_sets: list[set[int]],
    reports: list[EmbedReport],
    pending: list[dict[str, list[Any]]],
    flush: Callable[[int], None],
    npy_dir: Path | None,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Consume the pipeline's output: failures to failures.jsonl, vectors to shards (and .npy); returns rows seen."""
    seen = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
        n = len(batch["track_id"])
        for i in range(n):
            tid = int(batch["track_id"][i])
            ok = bool(batch["ok"][i])
            for k in range(len(writers)):
                if tid in done_sets[k]:
                    continue
                rep = reports[k]
                rep.decode_seconds += float(batch["decode_seconds"][i])
                if not ok:
                    reason = str(batch["reason"][i])
                    writers[k].record_failures(
                        [
                            {
                                "track_id": tid,
                                "path": str(batch["path"][i]) or None,
                                "stage": str(batch["stage"][i]),
                                "reason": reason,
                                "detail": str(batch["detail"][i]),
                            }
                        ]
                    )
                    rep.failed += 1
                    rep.failure_reasons[reason] = rep.failure_reasons.get(reason, 0) + 1
                    continue
                vector = batch[f"vector_{k}"][i]
                if k == 0 and npy_dir is not None:
                    # before the shard: a track in a shard always has its .npy, even after a kill
                    _write_npy(npy_dir, tid, vector)
                buf = pending[k]
                buf["ids"].append(tid)
                buf["vecs"].append(np.asarray(vector, dtype=np.float32))
                buf["segs"].append(int(batch["n_segments"][i]))
                buf["durs"].append(float(batch["duration_seconds"][i]))
                rep.done += 1
                rep.audio_seconds += float(batch["audio_seconds"][i])
                flush(k)
        seen += n
        if progress:
            progress(seen, total)
    return seen
