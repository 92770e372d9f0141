"""The vector index plan: index type, nlist/nprobe (and PQ shape), the Milvus params it becomes, and the default
plan sized to a collection (recall-tuned plans come from `indexing.faiss_tuning`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

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

    def for_engine(self, is_lite: bool) -> IndexPlan:
        """This plan as the engine can build it: IVF_PQ becomes LITE_SUBSTITUTE on Milvus Lite (same nlist/nprobe)."""
        if is_lite and self.index_type == "IVF_PQ":
            return IndexPlan(
                index_type=LITE_SUBSTITUTE,
                metric=self.metric,
                nlist=self.nlist,
                nprobe=self.nprobe,
                substitute_for="IVF_PQ",
            )
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
