"""The track collection's layout and search filters, derived from the tag-axes table, equal what they were."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from indexing.filters import FilterError, SearchFilters, build_filter
from indexing.schema import INDEXED_SCALARS, SCALAR_FIELDS, TAG_VOCAB, collection_schema, milvus_row
from museed.vectorset import VectorSet, VectorSetManifest
from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, TAG_AXES, VALENCE

#: the collection's scalar fields as they were written out by hand before the axes table
FORMER_SCALAR_FIELDS = {
    "genre_top": (DataType.VARCHAR, {"max_length": 64}),
    "genres_all": (DataType.ARRAY, {"element_type": DataType.INT64, "max_capacity": 64}),
    "mood_style": (DataType.VARCHAR, {"max_length": 16}),
    "energy": (DataType.VARCHAR, {"max_length": 16}),
    "valence": (DataType.VARCHAR, {"max_length": 16}),
    "source": (DataType.VARCHAR, {"max_length": 16}),
    "artist_id": (DataType.INT64, {}),
    "duration": (DataType.FLOAT, {}),
}


def test_milvus_fields_equal_the_former_lists() -> None:
    assert list(SCALAR_FIELDS.items()) == list(FORMER_SCALAR_FIELDS.items())
    assert INDEXED_SCALARS == ("genre_top", "mood_style", "energy", "valence", "source", "artist_id")
    assert list(TAG_VOCAB.items()) == [
        ("mood_style", MOOD_STYLES),
        ("energy", ENERGY),
        ("valence", VALENCE),
        ("source", SOURCE),
    ]
    former = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    former.add_field("track_id", DataType.INT64, is_primary=True)
    former.add_field("vector", DataType.FLOAT_VECTOR, dim=32)
    for name, (dtype, kwargs) in FORMER_SCALAR_FIELDS.items():
        former.add_field(name, dtype, **kwargs)
    schema = collection_schema(32).to_dict()
    assert schema == former.to_dict()
    assert [f["name"] for f in schema["fields"]] == ["track_id", "vector", *FORMER_SCALAR_FIELDS]
    assert schema["fields"][1]["params"] == {"dim": 32}
    assert not schema["auto_id"] and not schema["enable_dynamic_field"]


def test_a_row_holds_every_field_with_empty_defaults() -> None:
    vs = VectorSet(
        manifest=VectorSetManifest(encoder_id="enc", config_hash="c" * 64, dim=2),
        track_ids=np.array([7], dtype=np.int64),
        vectors=np.array([[1.0, 0.0]], dtype=np.float32),
        n_segments=np.ones(1, dtype=np.int32),
        duration_seconds=np.full(1, 30.0, dtype=np.float32),
    )
    meta = {"genre_top": "Rock", "genres_all": [12, 1], "energy": "high", "artist_id": 3}
    assert milvus_row(7, vs.vectors[0], meta, vs, 0) == {
        "track_id": 7,
        "vector": [1.0, 0.0],
        "genre_top": "Rock",
        "genres_all": [12, 1],
        "mood_style": "",
        "energy": "high",
        "valence": "",
        "source": "",
        "artist_id": 3,
        "duration": 30.0,
    }


def test_search_filters_follow_the_axes() -> None:
    assert [f.name for f in fields(SearchFilters)] == ["genre", "genre_id", *(a.name for a in TAG_AXES[1:])]
    f = SearchFilters(genre="Rock", genre_id=12, source="acoustic", mood_style="dreamy")
    assert f.tags() == {"mood_style": "dreamy", "source": "acoustic"}
    assert build_filter(genre=f.genre, equals=f.tags(), genre_id=f.genre_id, exclude_artists=[4]) == (
        'genre_top == "Rock" and array_contains(genres_all, 12) and mood_style == "dreamy" and '
        'source == "acoustic" and artist_id not in [4]'
    )
    with pytest.raises(FilterError, match=r"^energy='loud' is not one of \['high', 'medium', 'low'\]$"):
        SearchFilters(energy="loud").tags()
    with pytest.raises(FilterError, match="no filterable text field 'artist_id'"):
        build_filter(equals={"artist_id": "3"})
