"""The fixed tag vocabulary and THE table of tag axes, shared by the synthetic corpus, the taggers, triplet
mining, the Milvus collection, search filters and the API.

Every layer names an axis its own way; `TAG_AXES` is the one place that says how they map:

| name (API, TrackTags, triplets) | JSONL path (tags record)  | Milvus field | "why" text  | importance |
|---------------------------------|---------------------------|--------------|-------------|------------|
| genre                           | genre                     | genre_top    | {}          | 0          |
| mood_style                      | mood_style                | mood_style   | {} mood     | 2          |
| energy                          | affect.energy             | energy       | {} energy   | 3          |
| valence                         | affect.valence            | valence      | {} valence  | 1          |
| source                          | instrumentation.source    | source       | {}          | 4          |

The table's order is the public one (Milvus fields, API filters, "why" texts); triplet mining orders the axes by
`importance`, the taggers by JSONL path (`AXES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: affect.energy: loudness and event density
ENERGY: Final = ("high", "medium", "low")
#: affect.valence: major/bright vs minor/dark harmony
VALENCE: Final = ("positive", "negative")
#: instrumentation.source: plucked/bowed/blown/struck acoustic timbres vs synthetic ones
SOURCE: Final = ("acoustic", "electronic")
#: mood_style: articulation, register and space, independent of energy and valence
#:   dreamy  - legato, slow attacks, long reverberant tails, wide chords
#:   driving - a steady straight pulse, staccato ostinato, strong downbeats
#:   playful - syncopated, bouncy, high register, short notes and skips
#:   somber  - low register, sparse, slow descending lines
MOOD_STYLES: Final = ("dreamy", "driving", "playful", "somber")


@dataclass(frozen=True)
class TagAxis:
    """One tag axis and the name each layer knows it by."""

    #: the public name: API parameter and response field, `TrackTags` attribute, triplet feature, CSV column
    name: str
    #: where a tags record keeps the label ("affect.valence" is rec["affect"]["valence"]); also the key of the
    #: record's `margins` and `low_confidence`
    jsonl_path: str
    #: the VARCHAR scalar field of the Milvus track collection (and the key of a search hit's fields)
    milvus_field: str
    #: that field's max_length
    max_length: int
    #: how a playlist's "why" text names a value shared with the seed
    why: str
    #: rank in triplet mining, 0 = most important
    importance: int
    #: the closed vocabulary; empty for genre, whose names come from the catalog
    labels: tuple[str, ...] = ()


GENRE_AXIS: Final = TagAxis("genre", "genre", "genre_top", 64, "{}", 0)
#: every axis, in the public order (Milvus fields, API filters, "why" texts)
TAG_AXES: Final[tuple[TagAxis, ...]] = (
    GENRE_AXIS,
    TagAxis("mood_style", "mood_style", "mood_style", 16, "{} mood", 2, MOOD_STYLES),
    TagAxis("energy", "affect.energy", "energy", 16, "{} energy", 3, ENERGY),
    TagAxis("valence", "affect.valence", "valence", 16, "{} valence", 1, VALENCE),
    TagAxis("source", "instrumentation.source", "source", 16, "{}", 4, SOURCE),
)
#: the axes with a closed vocabulary (what a tagger assigns), in the public order
VOCAB_AXES: Final[tuple[TagAxis, ...]] = tuple(a for a in TAG_AXES if a.labels)
#: every axis by importance, the genre first (triplet mining's feature order)
AXES_BY_IMPORTANCE: Final[tuple[TagAxis, ...]] = tuple(sorted(TAG_AXES, key=lambda a: a.importance))
AXES_BY_NAME: Final[dict[str, TagAxis]] = {a.name: a for a in TAG_AXES}
AXES_BY_PATH: Final[dict[str, TagAxis]] = {a.jsonl_path: a for a in TAG_AXES}

#: JSONL path -> vocabulary of the tagged axes, ordered by path (the taggers' and their reports' order)
AXES: Final[dict[str, tuple[str, ...]]] = {
    a.jsonl_path: a.labels for a in sorted(VOCAB_AXES, key=lambda a: a.jsonl_path)
}
