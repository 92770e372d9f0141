"""The recommendation core: seed profile, "why", discovery (MMR) and taste vectors, on hand-made cases."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from api.playlists.recommend import explain, seed_profile, unit_mean
from api.playlists.schemas import Energy, MoodStyle, Source, Valence
from discovery.dial import mmr_order
from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE


def test_request_vocabularies_are_the_tag_vocabularies() -> None:
    assert get_args(MoodStyle) == MOOD_STYLES and get_args(Energy) == ENERGY
    assert get_args(Valence) == VALENCE and get_args(Source) == SOURCE


def test_seed_profile_keeps_what_most_seeds_share() -> None:
    one = {"genre_top": "Rock", "mood_style": "driving", "energy": "high", "valence": None, "source": ""}
    assert seed_profile([one]) == {"genre_top": "Rock", "mood_style": "driving", "energy": "high"}
    two = {"genre_top": "Rock", "mood_style": "dreamy", "energy": "low", "source": "acoustic"}
    three = {"genre_top": "Pop", "mood_style": "somber", "energy": "low", "source": "acoustic"}
    # Rock 2/3, energy low 2/3, source 2/2 of those that have one; three different moods: none wins
    profile = seed_profile([one, two, three])
    assert profile == {"genre_top": "Rock", "energy": "low", "source": "acoustic"}


def test_explain_names_only_shared_tags() -> None:
    profile = {"genre_top": "Rock", "mood_style": "driving", "energy": "high"}
    assert explain({"genre_top": "Rock", "mood_style": "driving", "energy": "high"}, profile, 0.9) == (
        "shares Rock, driving mood and high energy"
    )
    assert explain({"genre_top": "Pop", "mood_style": "driving", "energy": "low"}, profile, 0.9) == (
        "shares driving mood"
    )
    assert explain({"genre_top": "Pop"}, profile, 0.8765) == "sounds alike (similarity 0.88); no shared tags"
    assert explain({"genre_top": "Rock"}, {}, 0.5).startswith("sounds alike")


def test_mmr_without_discovery_is_similarity_order() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 8))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q = v[0]
    assert mmr_order(q, v, 10, 0.0) == list(np.argsort(-(v @ q))[:10])
    assert mmr_order(q, v[:0], 5, 0.5) == [] and mmr_order(q, v, 0, 0.5) == []
    assert sorted(mmr_order(q, v, 100, 0.7)) == list(range(30))  # asks for more than there are: all, once


def test_mmr_skips_a_near_copy_of_a_pick() -> None:
    q = np.array([1.0, 0.0, 0.0])
    a = np.array([0.95, 0.31, 0.0])
    a_copy = np.array([0.94, 0.34, 0.0])  # almost a, slightly closer to a than to anything else
    b = np.array([0.9, -0.1, 0.42])
    v = np.stack([a, a_copy, b])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert mmr_order(q, v, 2, 0.0) == [0, 1]  # similarity alone takes the copy second
    assert mmr_order(q, v, 2, 1.0) == [0, 2]  # discovery prefers the different track
    # by hand: gain of the copy = sim(q, copy) - 1.0 * sim(copy, a); of b = sim(q, b) - sim(b, a)
    gains = [v[1] @ q - v[1] @ v[0], v[2] @ q - v[2] @ v[0]]
    assert gains[1] > gains[0]


def test_unit_mean() -> None:
    assert unit_mean([]) is None
    assert unit_mean([np.array([1.0, 0.0]), np.array([-1.0, 0.0])]) is None
    assert unit_mean([np.array([1.0, 0.0]), np.array([0.0, 1.0])]) == pytest.approx([0.5**0.5, 0.5**0.5])
