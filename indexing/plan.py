"""The vector index plan: index type, nlist/nprobe (and PQ shape), the Milvus params it becomes, and the default
plan sized to a collection (recall-tuned plans come from `indexing.faiss_tuning`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

#: filters keeping at most this many rows are searched exactly from the compact store: an int8 scan of that many
#: rows (dim 512) costs about one Milvus request floor on the benchmark machine (docs/BENCHMARKS.md)
EXACT_MAX_ROWS = 5_000
#: PQ candidates a served search re-ranks from the compact store (recall@10 >= 0.95 at 90k x 512 in
#: docs/BENCHMARKS.md, "Vector index"); the tuner measures recall after this re-rank
SERVING_RERANK = 200
#: Milvus Lite has no IVF_PQ; IVF_FLAT keeps the plan's nlist/nprobe and loses nothing to quantisation
LITE_SUBSTITUTE = "IVF_FLAT"


@dataclass(frozen=True)
class IndexPlan:
    """Vector index parameters; `nprobe` is the search-time probe count."""

    index_type: str
    metric: str = "IP"
    nlist: int = 128
    nprobe: int = 16
    m: int | None = None
    nbits: int | None = None
    #: the type the plan asked for when this engine could not build it (IVF_PQ on Milvus Lite)
    substitute_for: str | None = None
    #: candidates fetched from the index and re-ranked from the compact store (0: no re-rank)
    rerank: int = 0
    #: filters keeping at most this many rows are searched exactly from the compact store (0: never)
    exact_max_rows: int = 0

    def for_engine(self, is_lite: bool) -> IndexPlan:
        """This plan as the engine can build it: IVF_PQ becomes LITE_SUBSTITUTE on Milvus Lite (same nlist/nprobe)."""
        if is_lite and self.index_type == "IVF_PQ":
            return dataclasses.replace(self, index_type=LITE_SUBSTITUTE, m=None, nbits=None, substitute_for="IVF_PQ")
        return self

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict."""
        return {k: v for k, v in self.__dict__.items()}

    def build_params(self) -> dict[str, Any]:
        """Milvus index params for this plan."""
        if self.index_type in ("FLAT", "AUTOINDEX"):
            return {}
        params: dict[str, Any] = {"nlist": self.nlist}
        if self.index_type == "IVF_PQ":
            params.update(m=self.m, nbits=self.nbits or 8)
        return params

    def vector_bytes(self, rows: int, dim: int) -> int:
        """Bytes the index keeps per its vectors: PQ codes (m * nbits / 8 per row), SQ8 codes, or float32 rows
        (FLAT, IVF_FLAT); coarse centroids and codebooks (nlist * dim * 4 and 2^nbits * dim * 4) not included."""
        if self.index_type == "IVF_PQ" and self.m:
            return rows * self.m * (self.nbits or 8) // 8
        if self.index_type == "IVF_SQ8":
            return rows * dim
        return rows * dim * 4

    @property
    def probes_some_lists(self) -> bool:
        """True when a search probes only part of the lists (more probes could find more rows)."""
        return self.index_type not in ("FLAT", "AUTOINDEX") and self.nprobe < self.nlist

    def wider(self, factor: int = 4) -> IndexPlan:
        """The same plan probing `factor` times as many lists (at most all of them)."""
        return dataclasses.replace(self, nprobe=min(self.nlist, max(self.nprobe + 1, self.nprobe * factor)))

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


#: a growing Milvus 2.3.5 segment is sealed at maxSize 512 MB x sealProportion 0.23 (the `milvus` package's config)
SEGMENT_SEAL_BYTES = int(512 * 2**20 * 0.23)


def segment_rows(dim: int) -> int:
    """Rows of `dim`-wide float32 vectors per sealed Milvus segment: the server builds and probes one IVF index
    per segment, so nlist and nprobe act on this many rows however large the collection grows."""
    return max(1, SEGMENT_SEAL_BYTES // (dim * 4))
