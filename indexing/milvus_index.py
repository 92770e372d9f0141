"""The Milvus track collection, one import away: this module re-exports the pieces, split by concern.

- `indexing.plan`: the vector index plan (`IndexPlan`, `default_plan`); FAISS tuning is `indexing.faiss_tuning`
- `indexing.schema`: scalar fields from the tag axes (`museed.vocab.TAG_AXES`), collection schema, scalar indexes
- `indexing.filters`: `SearchFilters`, filter expressions (`build_filter`) and the filtered-probe policy
- `indexing.build`: `TrackIndex` = serving plus build (versioned collection, insert, index, verify, alias swap, prune)
- `indexing.search`: `ServingIndex`, the serving view (alias, served plan, filtered search, rows, identity)
"""

from __future__ import annotations

from indexing.build import VERIFY_CONSISTENCY, BuildCheck, TrackIndex
from indexing.filters import FilterError, SearchFilters, build_filter, filtered_nprobe
from indexing.plan import LITE_SUBSTITUTE, IndexPlan, default_plan, default_plan_nprobe
from indexing.schema import INDEXED_SCALARS, MAX_GENRES_PER_TRACK, PLAN_PROPERTY, SCALAR_FIELDS, TAG_VOCAB
from indexing.search import (
    ALIAS_TTL_SECONDS,
    LOOKUP_BATCH,
    MAX_TOPK,
    SERVING_CONSISTENCY,
    SearchHit,
    ServingIndex,
    VectorIndexError,
)

__all__ = [
    "ALIAS_TTL_SECONDS",
    "INDEXED_SCALARS",
    "LITE_SUBSTITUTE",
    "LOOKUP_BATCH",
    "MAX_GENRES_PER_TRACK",
    "MAX_TOPK",
    "PLAN_PROPERTY",
    "SCALAR_FIELDS",
    "SERVING_CONSISTENCY",
    "TAG_VOCAB",
    "VERIFY_CONSISTENCY",
    "BuildCheck",
    "FilterError",
    "IndexPlan",
    "SearchFilters",
    "SearchHit",
    "ServingIndex",
    "TrackIndex",
    "VectorIndexError",
    "build_filter",
    "default_plan",
    "default_plan_nprobe",
    "filtered_nprobe",
]
