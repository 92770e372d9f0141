"""The track collection's layout: scalar fields (the tag axes from `museed.vocab.TAG_AXES` plus genre ids,
artist and duration), which of them get a scalar index, the collection schema and one row as Milvus stores it.

Scalar indexes: INVERTED on Milvus Lite, Trie (VARCHAR) and STL_SORT (numbers) on the 2.3.5 server (which has no
INVERTED); neither indexes ARRAY fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient

from indexing.plan import IndexPlan
from museed.vectorset import VectorSet
from museed.vocab import GENRE_AXIS, TAG_AXES, VOCAB_AXES

#: the most genre ids stored per track (FMA tracks list a handful; longer lists are truncated)
MAX_GENRES_PER_TRACK = 64
#: what each scalar field holds; a missing value is stored as "" (VARCHAR), -1 (INT64), [] or 0.0
SCALAR_FIELDS: dict[str, tuple[DataType, dict[str, Any]]] = {
    GENRE_AXIS.milvus_field: (DataType.VARCHAR, {"max_length": GENRE_AXIS.max_length}),
    "genres_all": (DataType.ARRAY, {"element_type": DataType.INT64, "max_capacity": MAX_GENRES_PER_TRACK}),
    **{a.milvus_field: (DataType.VARCHAR, {"max_length": a.max_length}) for a in VOCAB_AXES},
    "artist_id": (DataType.INT64, {}),
    "duration": (DataType.FLOAT, {}),
}
#: tag filters (by Milvus field) and the vocabulary each value must come from
TAG_VOCAB: dict[str, tuple[str, ...]] = {a.milvus_field: a.labels for a in VOCAB_AXES}
#: fields that get a scalar index (the ones filters and caps touch)
INDEXED_SCALARS = (*(a.milvus_field for a in TAG_AXES), "artist_id")
#: collection property holding the plan JSON (both Milvus Lite and the 2.3.5 server keep properties)
PLAN_PROPERTY = "museed.plan"


def collection_schema(dim: int) -> CollectionSchema:
    """The schema of a track collection: primary key `track_id`, the `dim`-wide `vector`, then SCALAR_FIELDS."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("track_id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    for fname, (dtype, kwargs) in SCALAR_FIELDS.items():
        schema.add_field(fname, dtype, **kwargs)
    return schema


def index_params(client: MilvusClient, plan: IndexPlan, is_lite: bool) -> Any:
    """The vector index plus one scalar index per filtered field (INVERTED on Lite; Trie/STL_SORT on 2.3.5)."""
    params = client.prepare_index_params()
    params.add_index(
        # nested "params": the one encoding both Milvus Lite and the server read (flat keys are lost on Lite)
        field_name="vector",
        index_type=plan.index_type,
        metric_type=plan.metric,
        params={"params": plan.build_params()},
    )
    for fname in INDEXED_SCALARS:
        is_text = SCALAR_FIELDS[fname][0] == DataType.VARCHAR
        kind = "INVERTED" if is_lite else ("Trie" if is_text else "STL_SORT")
        params.add_index(field_name=fname, index_type=kind, index_name=f"{fname}_idx")
    return params


def milvus_row(track_id: int, vector: np.ndarray, meta: dict[str, Any], vectors: VectorSet, i: int) -> dict[str, Any]:
    """One Milvus row: the vector plus scalar fields (missing tags stored as "", unknown ids as -1); `meta` is
    keyed by Milvus field name."""
    artist = meta.get("artist_id")
    duration = meta.get("duration")
    if duration is None or not np.isfinite(float(duration)):
        duration = float(vectors.duration_seconds[i]) if vectors.duration_seconds is not None else 0.0
    return {
        "track_id": track_id,
        "vector": vector.tolist(),
        GENRE_AXIS.milvus_field: str(meta.get(GENRE_AXIS.milvus_field) or ""),
        "genres_all": [int(g) for g in (meta.get("genres_all") or [])][:MAX_GENRES_PER_TRACK],
        **{a.milvus_field: str(meta.get(a.milvus_field) or "") for a in VOCAB_AXES},
        "artist_id": int(artist) if artist is not None else -1,
        "duration": float(duration),
    }
