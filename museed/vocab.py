"""The fixed tag vocabulary shared by the synthetic corpus, the taggers, triplet mining and search filters."""

from __future__ import annotations

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

AXES: Final = {
    "affect.energy": ENERGY,
    "affect.valence": VALENCE,
    "instrumentation.source": SOURCE,
    "mood_style": MOOD_STYLES,
}
