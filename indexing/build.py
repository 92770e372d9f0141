"""Building the Milvus track collection: create a versioned collection, bulk insert, index, verify, then
swap the serving alias; list and prune superseded versions.

Each build writes a new collection `tracks_<vector-set>_<timestamp>`, verifies it (row count, sample recall@10
against exact search) and then points the serving alias at it, so a rebuild never takes the served collection
away; superseded collections are dropped only after a grace period (`prune`).

Engines: a Milvus server builds the FAISS-tuned IVF_PQ; Milvus Lite has no IVF_PQ and builds LITE_SUBSTITUTE with
the same nlist/nprobe (the plan records `substitute_for`). The post-build verification reads `Strong` so it sees
every inserted row.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexing.compact import CompactStore
from indexing.plan import IndexPlan, default_plan
from indexing.schema import PLAN_PROPERTY, SCALAR_FIELDS, collection_schema, index_params, milvus_row
from indexing.search import ServingIndex, VectorIndexError, hit_id
from museed.vectorset import VectorSet

#: build checks read Strong (every inserted row), serving reads Bounded
VERIFY_CONSISTENCY = "Strong"


@dataclass
class BuildCheck:
    """What the post-load verification of a new collection measured."""

    collection: str
    rows: int
    sample_queries: int
    sample_recall: float
    plan: IndexPlan


class TrackIndex(ServingIndex):
    """The Milvus track collection: the serving view (`ServingIndex`) plus building new versions behind the alias."""

    def __init__(self, uri: str, alias: str = "tracks", token: str | None = None, timeout: float | None = None) -> None:
        super().__init__(uri, alias=alias, token=token, timeout=timeout)
        self.last_check: BuildCheck | None = None

    def build(
        self,
        vectors: VectorSet,
        metadata: dict[int, dict[str, Any]],
        plan: IndexPlan | None = None,
        batch: int = 2000,
        progress: Callable[[int, int], None] | None = None,
        plan_info: dict[str, Any] | None = None,
        min_recall: float = 0.0,
        sample_queries: int = 50,
        store_dir: Path | None = None,
        store_dtype: str = "int8",
    ) -> str:
        """Write a new versioned collection from `vectors` (+ scalar `metadata` per track), index, load and
        verify it (row count, self-hits, recall@10 of `sample_queries` vs exact search >= `min_recall`), then move
        the serving alias to it. IVF_PQ becomes LITE_SUBSTITUTE on Milvus Lite. Returns the new collection's name;
        `last_check` holds what the verification measured.

        With `store_dir`, the compact store (`indexing.compact`: `store_dtype` copies of the vectors plus the
        scalar fields) is written to `store_dir/<collection>` and its path kept in the collection's properties,
        so serving processes re-rank and search small filters exactly from it."""
        plan = (plan or default_plan(len(vectors))).for_engine(self.is_lite)
        name = f"{self.alias}_{vectors.manifest.vector_set_id}_{int(time.time() * 1000)}"
        dim = int(vectors.manifest.dim)
        self.client.create_collection(collection_name=name, schema=collection_schema(dim))
        folder = Path(store_dir) / name if store_dir is not None else None
        try:
            # the plan travels with the collection, so a restarted API searches with the tuned nprobe
            stored = {
                **(plan_info or {}),
                **plan.to_json(),
                "alias": self.alias,
                "engine": self.engine,
                "vector_set_id": vectors.manifest.vector_set_id,
                "encoder_id": vectors.manifest.encoder_id,
                "dim": dim,
            }
            if folder is not None:
                stored["compact_store"] = {"path": str(folder.resolve()), "rows": len(vectors), "dtype": store_dtype}
            self.client.alter_collection_properties(name, properties={PLAN_PROPERTY: json.dumps(stored)})
            ids = vectors.track_ids
            scalars: list[dict[str, Any]] = []  # the rows' scalar fields, for the compact store
            for start in range(0, len(ids), batch):
                rows = [
                    milvus_row(int(ids[i]), vectors.vectors[i], metadata.get(int(ids[i]), {}), vectors, i)
                    for i in range(start, min(start + batch, len(ids)))
                ]
                if folder is not None:
                    scalars.extend({f: r[f] for f in SCALAR_FIELDS} for r in rows)
                self.client.insert(collection_name=name, data=rows)
                if progress:
                    progress(min(start + batch, len(ids)), len(ids))
            self.client.flush(collection_name=name)
            # index after the bulk insert: one build over sealed data instead of many small ones
            self.client.create_index(collection_name=name, index_params=index_params(self.client, plan, self.is_lite))
            self._wait_indexed(name, len(vectors))
            self.client.load_collection(collection_name=name)
            store = CompactStore.from_rows(ids, vectors.vectors, scalars, store_dtype) if folder else None
            self.last_check = self._verify(name, vectors, plan, min_recall, sample_queries, store)
            if store is not None and folder is not None:
                store.save(folder)
        except Exception:
            self.client.drop_collection(name)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        self._point_alias(name)
        return name

    def _wait_indexed(self, name: str, rows: int, timeout: float = 1800.0) -> None:
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

    def _verify(
        self,
        name: str,
        vectors: VectorSet,
        plan: IndexPlan,
        min_recall: float,
        sample_queries: int,
        store: CompactStore | None = None,
    ) -> BuildCheck:
        """Row count, self-hits and sample recall of the new collection, searched as serving will search it
        (the top `plan.rerank` re-ranked from `store` when both are set)."""
        stats = self.client.get_collection_stats(name)
        count = int(stats.get("row_count", 0))
        if count != len(vectors):
            raise VectorIndexError(f"collection {name} holds {count} rows after load, expected {len(vectors)}")
        # sample recall@10 against exact inner-product search over every vector (and each probe finds itself)
        rng = np.random.default_rng(0)
        rows = rng.choice(len(vectors), size=min(sample_queries, len(vectors)), replace=False)
        probe = vectors.vectors[rows]
        k = min(10, len(vectors))
        truth = np.argsort(-(probe @ vectors.vectors.T), axis=1)[:, :k]
        rerank = store is not None and plan.rerank > 0
        res = self.client.search(
            collection_name=name,
            data=probe.tolist(),
            limit=max(k, plan.rerank) if rerank else k,
            anns_field="vector",
            search_params=plan.search_params(),
            output_fields=["track_id"],
            consistency_level=VERIFY_CONSISTENCY,
        )
        if store is not None and rerank:
            ranked = [store.rerank(q, [hit_id(h) for h in r])[:k] for q, r in zip(probe, res, strict=True)]
            res = [[{"id": t} for t, _, _ in r] for r in ranked]
        ids = vectors.track_ids
        found_self = sum(bool(r) and hit_id(r[0]) == int(ids[i]) for r, i in zip(res, rows, strict=True))
        recall = float(
            np.mean(
                [len({hit_id(h) for h in r} & {int(ids[j]) for j in t}) / k for r, t in zip(res, truth, strict=True)]
            )
        )
        if found_self < len(probe) - max(1, len(probe) // 10):
            raise VectorIndexError(f"collection {name}: only {found_self}/{len(probe)} probe vectors find themselves")
        if recall < min_recall:
            raise VectorIndexError(f"collection {name}: sample recall@{k} {recall:.3f} < required {min_recall:.3f}")
        return BuildCheck(collection=name, rows=count, sample_queries=len(probe), sample_recall=recall, plan=plan)

    def _point_alias(self, name: str) -> None:
        """Create or atomically move the serving alias to `name`."""
        if self.current_collection(fresh=True) is None:
            self.client.create_alias(collection_name=name, alias=self.alias)
        else:
            self.client.alter_alias(collection_name=name, alias=self.alias)
        self._alias_seen = (name, time.monotonic())

    def versions(self) -> list[tuple[str, int]]:
        """Every collection built for this alias with its build time (ms since the epoch), oldest first."""
        out = []
        for name in self.client.list_collections():
            stamp = name.rsplit("_", 1)[-1]
            if not name.startswith(f"{self.alias}_") or not stamp.isdigit():
                continue
            # the property tells our collections from those of an alias that merely shares the prefix
            if self.stored_plan(name).get("alias") != self.alias:
                continue
            out.append((name, int(stamp)))
        return sorted(out, key=lambda item: item[1])

    def prune(self, keep_previous: int = 1, grace_seconds: float = 600.0, now: float | None = None) -> list[str]:
        """Drop superseded collections beyond the newest `keep_previous`, once replaced >= `grace_seconds` ago
        (queries that resolved the alias before the swap finish on the old collection first). Returns the dropped."""
        served = self.current_collection(fresh=True)
        versions = self.versions()
        now_ms = (time.time() if now is None else now) * 1000
        dropped: list[str] = []
        older = [(i, name) for i, (name, _) in enumerate(versions) if name != served]
        for rank, (i, name) in enumerate(reversed(older)):
            # replaced when the next newer collection was built
            replaced_ms = versions[i + 1][1] if i + 1 < len(versions) else now_ms
            if rank >= keep_previous and now_ms - replaced_ms >= grace_seconds * 1000:
                store = self.stored_plan(name).get("compact_store") or {}
                self.client.drop_collection(name)
                if store.get("path"):
                    shutil.rmtree(store["path"], ignore_errors=True)
                self._stores.pop(name, None)
                self._plans.pop(name, None)
                dropped.append(name)
        return dropped
