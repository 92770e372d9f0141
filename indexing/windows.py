"""The window collection: one vector per dense window of each library track (`embedding.segments`), searched for
"which library recording is this?" (an upload that is an excerpt of a library track lies inside some window of
it, wherever it was lifted from; the track collection's pooled vector does not hear it).

A second Milvus collection beside the track collection, on the same server (or Milvus Lite file) and the same
client: one collection per segment store (encoder + window policy), `track_windows_<store id>`, so an upload's
windows are only ever compared with windows of the same encoder and length; its properties name the store. Rows:
`window_id = track_id * WINDOW_ID_STRIDE + window number` (primary key), `track_id`, the window's `start`/`end`
seconds and the unit vector. Re-filling a track upserts the same rows, so the fill job resumes and repeats
safely. Index: HNSW (both Milvus Lite and the 2.3.5 server build it; no training step, so tracks join a served
collection at any time, unlike the track collection's versioned IVF build).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient
from pymilvus.client.types import LoadState

from indexing.search import LOOKUP_BATCH, MAX_TOPK, ServingIndex, VectorIndexError

WINDOW_COLLECTION_PREFIX = "track_windows"
#: window ids per track: a track read up to 600 s at a 5-s hop has 121 windows; far fewer than this
WINDOW_ID_STRIDE = 4096
#: collection property holding the segment store's manifest (encoder, dim, window policy)
STORE_PROPERTY = "museed.windows"
#: HNSW graph degree and build beam; `ef` at search time is at least HNSW_MIN_EF (and at least the k asked for)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_MIN_EF = 64
#: rows per upsert call
UPSERT_BATCH = 2000


@dataclass(frozen=True)
class WindowHit:
    """One library window near a query window: its track, where it lies (seconds) and the cosine."""

    track_id: int
    start: float
    end: float
    score: float


def window_schema(dim: int) -> CollectionSchema:
    """The window collection's schema: primary key `window_id`, `track_id`, `start`, `end`, the `dim`-wide vector."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("window_id", DataType.INT64, is_primary=True)
    schema.add_field("track_id", DataType.INT64)
    schema.add_field("start", DataType.FLOAT)
    schema.add_field("end", DataType.FLOAT)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


class WindowIndex:
    """The window collection of one segment store, reached through the track index's client (`ServingIndex`:
    the same connection, timeouts and reconnects as the track collection)."""

    def __init__(self, index: ServingIndex, store_id: str) -> None:
        self.index = index
        self.store_id = store_id
        self.name = f"{WINDOW_COLLECTION_PREFIX}_{store_id}"

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.index._call(method, **kwargs)

    def exists(self) -> bool:
        """Whether the collection was created (by `museed windows`)."""
        return bool(self._call("has_collection", collection_name=self.name))

    def create(self, dim: int, manifest: dict[str, Any]) -> bool:
        """Create the collection with its HNSW index unless it exists; True when it was created now. A collection
        of the same name made for another manifest (never expected: the name is the store id) is refused."""
        if self.exists():
            stored = self.manifest()
            if stored is not None and stored.get("store_id") != manifest.get("store_id"):
                held = stored.get("store_id")
                raise VectorIndexError(f"{self.name} holds windows of store {held}, not {self.store_id}")
            return False
        params = self.index.client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type="HNSW",
            metric_type="IP",
            params={"params": {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}},
        )
        self._call(
            "create_collection",
            collection_name=self.name,
            schema=window_schema(dim),
            index_params=params,
            properties={STORE_PROPERTY: json.dumps(manifest, sort_keys=True)},
        )
        return True

    def manifest(self) -> dict[str, Any] | None:
        """The segment store manifest kept with the collection (None when absent or unreadable)."""
        props = (self._call("describe_collection", collection_name=self.name) or {}).get("properties") or {}
        try:
            found = json.loads(props[STORE_PROPERTY])
        except (KeyError, TypeError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def tracks_present(self, track_ids: Sequence[int]) -> set[int]:
        """Those of `track_ids` whose first window is in the collection (what a resumed fill skips); loads the
        collection (a new process finds it released)."""
        present: set[int] = set()
        if not self.ensure_loaded():
            return present
        ids = [int(t) * WINDOW_ID_STRIDE for t in track_ids]
        for at in range(0, len(ids), LOOKUP_BATCH):
            batch = ids[at : at + LOOKUP_BATCH]
            rows = self._call("get", collection_name=self.name, ids=batch, output_fields=["track_id"])
            present.update(int(r["track_id"]) for r in rows)
        return present

    def add(self, track_id: int, vectors: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int:
        """Upsert a track's windows (vectors L2-normalised here); returns the rows written."""
        n = len(vectors)
        if not 0 < n <= WINDOW_ID_STRIDE or len(starts) != n or len(ends) != n:
            raise ValueError(f"track {track_id}: {n} windows with {len(starts)} starts and {len(ends)} ends")
        x = _unit(vectors)
        base = int(track_id) * WINDOW_ID_STRIDE
        rows = [
            {
                "window_id": base + i,
                "track_id": int(track_id),
                "start": float(starts[i]),
                "end": float(ends[i]),
                "vector": x[i].tolist(),
            }
            for i in range(n)
        ]
        for at in range(0, n, UPSERT_BATCH):
            self._call("upsert", collection_name=self.name, data=rows[at : at + UPSERT_BATCH])
        return n

    def finish(self) -> int:
        """Flush what was added and load the collection for search; returns its row count."""
        self._call("flush", collection_name=self.name)
        self.ensure_loaded()
        return self.count()

    def count(self) -> int:
        """Windows in the collection."""
        return int(self._call("get_collection_stats", collection_name=self.name).get("row_count", 0))

    def ensure_loaded(self) -> bool:
        """Load the collection unless it is loaded; False when it does not exist (nothing to search)."""
        if not self.exists():
            return False
        state = self._call("get_load_state", collection_name=self.name).get("state")
        if str(state) != str(LoadState.Loaded):
            self._call("load_collection", collection_name=self.name)
        return True

    def search(self, vectors: np.ndarray, k: int) -> list[list[WindowHit]]:
        """The `k` nearest library windows of each query vector (normalised here), most similar first."""
        if np.ndim(vectors) != 2 or len(vectors) == 0:
            return []
        x = _unit(vectors)
        k = max(1, min(int(k), MAX_TOPK))
        found = self._call(
            "search",
            collection_name=self.name,
            data=x.tolist(),
            limit=k,
            output_fields=["track_id", "start", "end"],
            search_params={"metric_type": "IP", "params": {"ef": max(HNSW_MIN_EF, k)}},
        )
        return [
            [
                WindowHit(
                    track_id=int(h["entity"]["track_id"]),
                    start=float(h["entity"]["start"]),
                    end=float(h["entity"]["end"]),
                    score=float(h["distance"]),
                )
                for h in hits
            ]
            for hits in found
        ]

    def drop(self) -> None:
        """Drop the collection (a refill starts from nothing)."""
        if self.exists():
            self._call("drop_collection", collection_name=self.name)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
