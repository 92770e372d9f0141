"""The Milvus track collection: schema, bulk load, serving alias, filtered search.

Each build writes a new collection `tracks_<vector-set>_<timestamp>` and then points the serving alias at it,
so a rebuild never takes the served collection away.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient

from embedding.store import VectorSet

#: what each scalar field holds; a missing value is stored as "" (VARCHAR) or -1 (INT64)
SCALAR_FIELDS: dict[str, tuple[DataType, dict[str, Any]]] = {
    "genre_top": (DataType.VARCHAR, {"max_length": 64}),
    "artist_id": (DataType.INT64, {}),
}


class VectorIndexError(RuntimeError):
    """The vector index is missing, unreachable or inconsistent."""


@dataclass(frozen=True)
class IndexPlan:
    """Vector index parameters; `nprobe` is the search-time probe count."""

    index_type: str
    metric: str = "IP"
    nlist: int = 128
    nprobe: int = 16
    m: int | None = None
    nbits: int | None = None

    def build_params(self) -> dict[str, Any]:
        """Milvus index params for this plan."""
        if self.index_type in ("FLAT", "AUTOINDEX"):
            return {}
        params: dict[str, Any] = {"nlist": self.nlist}
        if self.index_type == "IVF_PQ":
            params.update(m=self.m, nbits=self.nbits or 8)
        return params

    def search_params(self) -> dict[str, Any]:
        """Milvus search params for this plan."""
        if self.index_type in ("FLAT", "AUTOINDEX"):
            return {"metric_type": self.metric}
        return {"metric_type": self.metric, "params": {"nprobe": self.nprobe}}


def default_plan(n_vectors: int) -> IndexPlan:
    """An IVF_FLAT plan sized to the collection: nlist ~ 4*sqrt(N) but with >= 39 training points per list
    (FAISS/Knowhere's k-means minimum); tiny collections get a handful of lists probed exhaustively."""
    n = max(n_vectors, 1)
    nlist = int(max(1, min(4096, 4 * np.sqrt(n), n // 39)))
    return IndexPlan(index_type="IVF_FLAT", nlist=nlist, nprobe=default_plan_nprobe(nlist))


def default_plan_nprobe(nlist: int) -> int:
    """Probe every list of a small index, an eighth of a large one (recall-tuned plans come from FAISS)."""
    return nlist if nlist <= 16 else max(16, nlist // 8)


@dataclass
class SearchHit:
    """One search result: a track, its similarity (inner product of unit vectors) and its scalar fields."""

    track_id: int
    score: float
    fields: dict[str, Any] = field(default_factory=dict)


def _quote(value: str) -> str:
    """A Milvus string literal (JSON escaping handles quotes and backslashes)."""
    return json.dumps(value, ensure_ascii=False)


def build_filter(
    genre: str | None = None,
    exclude_ids: Sequence[int] = (),
    equals: dict[str, str] | None = None,
) -> str:
    """A Milvus boolean expression for the given filters ("" when none)."""
    parts = []
    if genre:
        parts.append(f"genre_top == {_quote(genre)}")
    for name, value in (equals or {}).items():
        if name not in SCALAR_FIELDS:
            raise ValueError(f"no filterable field {name!r}")
        parts.append(f"{name} == {_quote(value)}")
    if exclude_ids:
        parts.append(f"track_id not in [{', '.join(str(int(t)) for t in exclude_ids)}]")
    return " and ".join(parts)


class TrackIndex:
    """The serving view of the Milvus track collection (an alias over versioned collections)."""

    def __init__(self, uri: str, alias: str = "tracks", token: str | None = None) -> None:
        self.uri = uri
        self.alias = alias
        self.client = MilvusClient(uri=uri, token=token or "")
        self.is_lite = not uri.startswith(("http://", "https://", "tcp://", "grpc://"))

    def close(self) -> None:
        """Release the client connection."""
        self.client.close()

    # ---- building -------------------------------------------------------------------------------
    def build(
        self,
        vectors: VectorSet,
        metadata: dict[int, dict[str, Any]],
        plan: IndexPlan | None = None,
        batch: int = 2000,
        progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Write a new versioned collection from `vectors` (+ scalar `metadata` per track), index, load and
        verify it, then move the serving alias to it. Returns the new collection's name."""
        plan = plan or default_plan(len(vectors))
        name = f"{self.alias}_{vectors.manifest.vector_set_id}_{int(time.time() * 1000)}"
        dim = int(vectors.manifest.dim)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("track_id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for fname, (dtype, kwargs) in SCALAR_FIELDS.items():
            schema.add_field(fname, dtype, **kwargs)
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            # nested "params": the one encoding both Milvus Lite and the server read (flat keys are lost on Lite)
            field_name="vector",
            index_type=plan.index_type,
            metric_type=plan.metric,
            params={"params": plan.build_params()},
        )
        self.client.create_collection(collection_name=name, schema=schema)
        try:
            ids = vectors.track_ids
            for start in range(0, len(ids), batch):
                rows = []
                for i in range(start, min(start + batch, len(ids))):
                    tid = int(ids[i])
                    meta = metadata.get(tid, {})
                    rows.append(
                        {
                            "track_id": tid,
                            "vector": vectors.vectors[i].tolist(),
                            "genre_top": str(meta.get("genre_top") or ""),
                            "artist_id": int(meta.get("artist_id", -1) if meta.get("artist_id") is not None else -1),
                        }
                    )
                self.client.insert(collection_name=name, data=rows)
                if progress:
                    progress(min(start + batch, len(ids)), len(ids))
            self.client.flush(collection_name=name)
            # index after the bulk insert: one build over sealed data instead of many small ones
            self.client.create_index(collection_name=name, index_params=index_params)
            self._wait_indexed(name, len(vectors))
            self.client.load_collection(collection_name=name)
            self._verify(name, vectors, plan)
        except Exception:
            self.client.drop_collection(name)
            raise
        self._point_alias(name)
        return name

    def _wait_indexed(self, name: str, rows: int, timeout: float = 600.0) -> None:
        """Block until the server reports every row indexed (it builds asynchronously after create_index)."""
        deadline = time.monotonic() + timeout
        while True:
            desc = self.client.describe_index(collection_name=name, index_name="vector")
            if desc.get("state") == "Finished" and int(desc.get("indexed_rows", 0)) >= rows:
                return
            if desc.get("state") == "Failed":
                raise VectorIndexError(f"index build failed on {name}: {desc.get('index_state_fail_reason')}")
            if time.monotonic() > deadline:
                raise VectorIndexError(f"index on {name} not built after {timeout:.0f} s: {desc}")
            time.sleep(0.5)

    def _verify(self, name: str, vectors: VectorSet, plan: IndexPlan) -> None:
        stats = self.client.get_collection_stats(name)
        count = int(stats.get("row_count", 0))
        if count != len(vectors):
            raise VectorIndexError(f"collection {name} holds {count} rows after load, expected {len(vectors)}")
        # each probe vector must find itself first: a cheap end-to-end check of the index
        probe = vectors.vectors[: min(5, len(vectors))]
        res = self.client.search(
            collection_name=name,
            data=probe.tolist(),
            limit=1,
            anns_field="vector",
            search_params=plan.search_params(),
            output_fields=["track_id"],
        )
        found = sum(_hit_id(r[0]) == int(t) for r, t in zip(res, vectors.track_ids[: len(probe)], strict=True))
        if found < len(probe) - 1:
            raise VectorIndexError(f"collection {name}: only {found}/{len(probe)} probe vectors find themselves")

    def _point_alias(self, name: str) -> None:
        """Create or atomically move the serving alias to `name`."""
        if self.current_collection() is None:
            self.client.create_alias(collection_name=name, alias=self.alias)
        else:
            self.client.alter_alias(collection_name=name, alias=self.alias)

    def current_collection(self) -> str | None:
        """The collection the serving alias points at (None before the first build)."""
        # list first: describe_alias on a missing alias raises and logs an RPC error on the server
        if self.alias not in (self.client.list_aliases().get("aliases") or []):
            return None
        info = self.client.describe_alias(alias=self.alias)
        return str(info.get("collection_name")) if info else None

    def current_plan(self) -> IndexPlan:
        """The index plan of the served collection, read back from Milvus' own index description."""
        name = self.current_collection()
        if name is None:
            raise VectorIndexError(f"no collection behind alias {self.alias!r}: run `museed index` first")
        desc = self.client.describe_index(collection_name=name, index_name="vector")
        params = desc.get("params") or {}
        if isinstance(params, str):
            params = json.loads(params)
        nlist = int(params.get("nlist", desc.get("nlist", 1)))
        return IndexPlan(
            index_type=str(desc.get("index_type", "FLAT")),
            metric=str(desc.get("metric_type", "IP")),
            nlist=nlist,
            nprobe=default_plan_nprobe(nlist),
            m=int(params["m"]) if "m" in params else None,
            nbits=int(params["nbits"]) if "nbits" in params else None,
        )

    def count(self) -> int:
        """Rows in the served collection."""
        name = self.current_collection()
        return int(self.client.get_collection_stats(name)["row_count"]) if name else 0

    # ---- serving --------------------------------------------------------------------------------
    def search(
        self,
        vector: np.ndarray,
        k: int,
        genre: str | None = None,
        exclude_ids: Sequence[int] = (),
        plan: IndexPlan | None = None,
    ) -> list[SearchHit]:
        """Top-`k` tracks by inner product with `vector` (unit vectors: cosine), optionally in one genre."""
        plan = plan or self.current_plan()
        res = self.client.search(
            collection_name=self.alias,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            limit=k,
            anns_field="vector",
            filter=build_filter(genre=genre, exclude_ids=exclude_ids),
            search_params=plan.search_params(),
            output_fields=["track_id", *SCALAR_FIELDS],
        )
        hits = []
        for h in res[0]:
            entity = dict(h.get("entity") or {})
            hits.append(SearchHit(track_id=_hit_id(h), score=float(h["distance"]), fields=entity))
        return hits

    def get_vectors(self, track_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors of `track_ids` (those not in the index are absent from the result)."""
        if not track_ids:
            return {}
        rows = self.client.query(
            collection_name=self.alias,
            filter=f"track_id in [{', '.join(str(int(t)) for t in track_ids)}]",
            output_fields=["track_id", "vector"],
        )
        return {int(r["track_id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}


def _hit_id(hit: dict[str, Any]) -> int:
    """The primary key of a search hit (Milvus Lite names it after the field, the server calls it `id`)."""
    if "track_id" in hit:
        return int(hit["track_id"])
    if "id" in hit:
        return int(hit["id"])
    return int(hit["entity"]["track_id"])
