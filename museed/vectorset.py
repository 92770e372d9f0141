"""The embedding store: a vector set is a directory of Parquet shards plus a `vector_set.json` manifest.

Layout::

    <out>/vector_set.json        encoder id, config hash, dim, layer, pooling, code version, counts
    <out>/shards/part-*.parquet  track_id, vector (list<float32>), encoder_id, n_segments, duration_seconds
    <out>/failures.jsonl         one line per track that could not be embedded (track_id, path, stage, reason)

The manifest's `vector_set_id` names the set everywhere downstream (Milvus collection names, playlist recipes).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import museed
from museed.errors import PipelineError

_STAMP_LOCK = threading.Lock()


def _shard_stamp(out: Path) -> int:
    """A shard name's millisecond stamp, strictly after every shard already in `out`: names sort oldest first,
    which is how duplicate track ids keep the newest row, even for two shards written in one millisecond."""
    with _STAMP_LOCK:
        newest = max((int(p.name.split("-")[1]) for p in (out / SHARDS).glob("part-*.parquet")), default=0)
        return max(int(time.time() * 1000), newest + 1)


MANIFEST = "vector_set.json"
SHARDS = "shards"
FAILURES = "failures.jsonl"

SHARD_SCHEMA = pa.schema(
    [
        ("track_id", pa.int64()),
        ("vector", pa.list_(pa.float32())),
        ("encoder_id", pa.string()),
        ("n_segments", pa.int32()),
        ("duration_seconds", pa.float32()),
    ]
)


class VectorSetError(PipelineError):
    """A vector set directory is missing, incomplete or inconsistent."""


@dataclass
class VectorSetManifest:
    """What produced a vector set; stored next to the vectors so stale ones are detectable."""

    encoder_id: str
    config_hash: str
    dim: int
    encoder: dict[str, Any] = field(default_factory=dict)
    code_version: str = museed.__version__
    created_at: float = field(default_factory=time.time)
    tracks: int = 0
    failures: int = 0

    @property
    def vector_set_id(self) -> str:
        """Short stable id of (encoder, config): equal ids mean interchangeable vectors."""
        digest = hashlib.sha256(f"{self.encoder_id}|{self.config_hash}|{self.dim}".encode()).hexdigest()
        return digest[:12]

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to `vector_set.json`."""
        return {
            "vector_set_id": self.vector_set_id,
            "encoder_id": self.encoder_id,
            "config_hash": self.config_hash,
            "dim": self.dim,
            "encoder": self.encoder,
            "code_version": self.code_version,
            "created_at": self.created_at,
            "tracks": self.tracks,
            "failures": self.failures,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VectorSetManifest:
        """Parse a manifest written by `to_json`."""
        return cls(
            encoder_id=data["encoder_id"],
            config_hash=data["config_hash"],
            dim=int(data["dim"]),
            encoder=data.get("encoder", {}),
            code_version=data.get("code_version", "?"),
            created_at=float(data.get("created_at", 0.0)),
            tracks=int(data.get("tracks", 0)),
            failures=int(data.get("failures", 0)),
        )


@dataclass
class VectorSet:
    """All vectors of one set, loaded into memory (90k x 1024 float32 is ~370 MB; fine for one process)."""

    manifest: VectorSetManifest
    track_ids: np.ndarray  # int64 (n,)
    vectors: np.ndarray  # float32 (n, dim), L2-normalised
    n_segments: np.ndarray
    duration_seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    def index_of(self) -> dict[int, int]:
        """Map track id -> row."""
        return {int(t): i for i, t in enumerate(self.track_ids)}


class VectorSetWriter:
    """Appends shards atomically (write to a temp name, then rename), so a killed job leaves whole shards only."""

    def __init__(self, out: Path, manifest: VectorSetManifest) -> None:
        self.out = Path(out)
        self.manifest = manifest
        (self.out / SHARDS).mkdir(parents=True, exist_ok=True)
        existing = read_manifest(self.out) if (self.out / MANIFEST).exists() else None
        if existing is not None and existing.vector_set_id != manifest.vector_set_id:
            raise VectorSetError(
                f"{self.out} holds vectors of encoder {existing.encoder_id} ({existing.config_hash[:8]}); "
                f"refusing to mix in {manifest.encoder_id} ({manifest.config_hash[:8]}): use another --out"
            )
        self._write_manifest()

    def _write_manifest(self) -> None:
        tmp = self.out / f".{MANIFEST}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(self.manifest.to_json(), indent=2))
        os.replace(tmp, self.out / MANIFEST)

    def done_track_ids(self) -> set[int]:
        """Track ids already embedded in complete shards (for resume)."""
        return set(iter_shard_track_ids(self.out))

    def write_shard(
        self,
        track_ids: list[int],
        vectors: np.ndarray,
        n_segments: list[int],
        durations: list[float],
    ) -> Path:
        """Write one shard; returns its path."""
        if len(track_ids) == 0:
            raise VectorSetError("refusing to write an empty shard")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(track_ids), self.manifest.dim):
            raise VectorSetError(f"vectors shape {vectors.shape} != ({len(track_ids)}, {self.manifest.dim})")
        table = pa.table(
            {
                "track_id": pa.array(track_ids, pa.int64()),
                "vector": pa.array(list(vectors), pa.list_(pa.float32())),
                "encoder_id": pa.array([self.manifest.encoder_id] * len(track_ids), pa.string()),
                "n_segments": pa.array(n_segments, pa.int32()),
                "duration_seconds": pa.array(durations, pa.float32()),
            },
            schema=SHARD_SCHEMA,
        )
        name = f"part-{_shard_stamp(self.out):013d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.out / SHARDS / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.out / SHARDS / name)
        return self.out / SHARDS / name

    def record_failures(self, failures: Iterable[dict[str, Any]]) -> int:
        """Append failure records (track_id, path, stage, reason) to failures.jsonl."""
        n = 0
        with open(self.out / FAILURES, "a", encoding="utf-8") as fh:
            for rec in failures:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        return n

    def finish(self, tracks: int, failures: int) -> VectorSetManifest:
        """Record final counts in the manifest."""
        self.manifest.tracks = tracks
        self.manifest.failures = failures
        self._write_manifest()
        return self.manifest


def read_manifest(path: Path) -> VectorSetManifest:
    """Read `vector_set.json` of a vector set directory."""
    f = Path(path) / MANIFEST
    if not f.exists():
        raise VectorSetError(f"{path} is not a vector set: {MANIFEST} is missing (run `museed embed` first)")
    return VectorSetManifest.from_json(json.loads(f.read_text()))


def _shard_paths(path: Path) -> list[Path]:
    return sorted(p for p in (Path(path) / SHARDS).glob("part-*.parquet"))


def iter_shard_track_ids(path: Path) -> Iterator[int]:
    """Track ids of every complete shard, without loading vectors."""
    for shard in _shard_paths(path):
        yield from pq.read_table(shard, columns=["track_id"]).column("track_id").to_pylist()


def read_failures(path: Path) -> list[dict[str, Any]]:
    """The failure records of a vector set (latest record per track wins)."""
    f = Path(path) / FAILURES
    if not f.exists():
        return []
    latest: dict[Any, dict[str, Any]] = {}
    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[rec.get("track_id")] = rec
    return list(latest.values())


def load_vector_set(path: Path) -> VectorSet:
    """Load every shard of a vector set; duplicate track ids (a re-run after a crash) keep the newest row."""
    manifest = read_manifest(path)
    shards = _shard_paths(path)
    if not shards:
        raise VectorSetError(f"{path} has no shards: the embedding job wrote no vectors")
    table = pa.concat_tables(pq.read_table(s) for s in shards)
    ids = table.column("track_id").to_numpy()
    flat = table.column("vector").combine_chunks()
    vectors = np.asarray(flat.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(ids), -1)
    if vectors.shape[1] != manifest.dim:
        raise VectorSetError(f"{path}: vectors have dim {vectors.shape[1]}, manifest says {manifest.dim}")
    # keep the last occurrence of each id (shards sort by creation time)
    _, last_rev = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - last_rev)
    return VectorSet(
        manifest=manifest,
        track_ids=ids[keep].astype(np.int64),
        vectors=vectors[keep],
        n_segments=table.column("n_segments").to_numpy()[keep],
        duration_seconds=table.column("duration_seconds").to_numpy()[keep],
    )
