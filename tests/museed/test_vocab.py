"""The tag-axes table (`museed.vocab.TAG_AXES`) and the views every layer derives from it."""

from __future__ import annotations

import json
from dataclasses import fields

from museed.tags import TrackTags
from museed.vocab import AXES, AXES_BY_NAME, AXES_BY_PATH, ENERGY, MOOD_STYLES, SOURCE, TAG_AXES, VALENCE, VOCAB_AXES

RECORD = (
    '{"track_id": 2, "tagger": "dsp-v1", "genre": "Rock", "instrumentation": {"source": "electronic"}, '
    '"affect": {"valence": "positive", "energy": "high"}, "mood_style": "driving", '
    '"margins": {"affect.energy": 0.3, "affect.valence": 0.04, "instrumentation.source": 0.21, "mood_style": 0.1}, '
    '"low_confidence": ["affect.valence"]}'
)


def test_the_table_round_trips_a_tags_record_byte_for_byte() -> None:
    tags = TrackTags.from_json(json.loads(RECORD))
    assert (tags.source, tags.valence, tags.energy, tags.mood_style) == ("electronic", "positive", "high", "driving")
    assert json.dumps(tags.to_json(), ensure_ascii=False) == RECORD
    rec = json.loads(RECORD)
    for axis in TAG_AXES:  # each axis' JSONL path leads to the attribute named after it
        node = rec
        for key in axis.jsonl_path.split("."):
            node = node[key]
        assert node == tags.label(axis) == getattr(tags, axis.name)
    assert all(tags.axis(path) == tags.label(AXES_BY_PATH[path]) for path in AXES)


def test_from_labels_keys_by_jsonl_path() -> None:
    labels = {"affect.energy": "high", "affect.valence": "positive", "instrumentation.source": "electronic"}
    tags = TrackTags.from_labels(2, "dsp-v1", "Rock", {**labels, "mood_style": "driving"}, {"mood_style": 0.1})
    assert tags == TrackTags(2, "dsp-v1", "Rock", "electronic", "positive", "high", "driving", {"mood_style": 0.1})


def test_the_derived_views_equal_the_former_literals() -> None:
    # the taggers' axes, by JSONL path, in the order of every tags report
    assert list(AXES.items()) == [
        ("affect.energy", ENERGY),
        ("affect.valence", VALENCE),
        ("instrumentation.source", SOURCE),
        ("mood_style", MOOD_STYLES),
    ]
    assert [a.name for a in TAG_AXES] == ["genre", "mood_style", "energy", "valence", "source"]
    assert [a.milvus_field for a in TAG_AXES] == ["genre_top", "mood_style", "energy", "valence", "source"]
    assert [a.name for a in VOCAB_AXES] == ["mood_style", "energy", "valence", "source"]
    assert set(AXES_BY_NAME) == {f.name for f in fields(TrackTags)} - {
        "track_id",
        "tagger",
        "margins",
        "low_confidence",
    }


def test_derived_consumers() -> None:
    from api.playlists.recommend import WHY_AXES, explain
    from api.playlists.schemas import Energy, MoodStyle, Source, Valence
    from api.tracks.schemas import TrackTagsOut
    from api.tracks.service import TAG_FIELDS
    from training.triplets import FEATURES

    assert WHY_AXES == ("genre_top", "mood_style", "energy", "valence", "source")
    profile = {"genre_top": "Rock", "mood_style": "driving", "energy": "high", "valence": "positive", "source": "x"}
    assert explain(profile, profile, 0.5) == "shares Rock, driving mood, high energy, positive valence and x"
    assert TAG_FIELDS == ("mood_style", "energy", "valence", "source") == tuple(TrackTagsOut.model_fields)
    assert FEATURES == ("genre", "valence", "mood_style", "energy", "source")
    # the API's Literal types cannot be built from a variable (mypy); they must list the same labels
    from api.playlists.schemas import PlaylistCreate

    assert {a.name for a in TAG_AXES} <= set(PlaylistCreate.model_fields)
    literals = {"mood_style": MoodStyle, "energy": Energy, "valence": Valence, "source": Source}
    assert {name: lit.__args__ for name, lit in literals.items()} == {a.name: a.labels for a in VOCAB_AXES}
