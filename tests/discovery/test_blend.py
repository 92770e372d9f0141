"""Seed blending: centroid weights, fair share, negative seeds and attribution."""

from __future__ import annotations

import numpy as np
import pytest

from discovery.blend import (
    attribute,
    centroid,
    fair_share_order,
    penalise_negatives,
    seed_weights,
    steer_away,
    turn_order,
)
from discovery.vectors import unit_rows
from tests.discovery.corpus import clusters


def _two_seed_pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seeds = unit_rows(rng.normal(size=(2, 16)))
    near_a = unit_rows(seeds[0] + 0.3 * rng.normal(size=(40, 16)) / 4)
    near_b = unit_rows(seeds[1] + 0.3 * rng.normal(size=(40, 16)) / 4)
    return seeds, np.vstack([near_a, near_b])


def test_centroid_weights() -> None:
    seeds = np.eye(3)[:2]
    assert np.allclose(centroid(seeds), unit_rows(np.array([[1.0, 1.0, 0.0]]))[0])
    heavy = centroid(seeds, [3.0, 1.0])
    assert heavy[0] > heavy[1] > 0 and np.isclose(np.linalg.norm(heavy), 1.0)
    with pytest.raises(ValueError, match="cancel"):
        centroid(np.array([[1.0, 0.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="2 seeds but 1"):
        seed_weights(2, [1.0])


def test_turn_order_is_proportional_in_every_prefix() -> None:
    order = turn_order(np.array([2 / 3, 1 / 3]), 30)
    assert order.count(0) == 20 and order.count(1) == 10
    for prefix in range(1, 31):
        assert abs(order[:prefix].count(0) - 2 * prefix / 3) <= 1


def test_fair_share_gives_each_seed_its_share() -> None:
    seeds, pool = _two_seed_pool()
    # the centroid pulled towards seed 0 by an uneven pool: the plain ranking is dominated by one side
    lopsided = np.vstack([pool[:40], pool[40:45]])
    rows, matched = fair_share_order(lopsided, seeds)
    first = rows[:10]
    assert sorted(matched[:10]) == [0] * 5 + [1] * 5
    assert sum(r >= 40 for r in first) == 5  # five from seed 1's side although only 5 of 45 are there
    weighted_rows, weighted = fair_share_order(pool, seeds, [3.0, 1.0])
    assert weighted[:20].count(0) == 15 and weighted[:20].count(1) == 5
    assert sum(r < 40 for r in weighted_rows[:20]) == 15
    assert sorted(weighted_rows) == list(range(len(pool)))


def test_negative_seeds_lower_similarity_to_the_negative() -> None:
    vectors = clusters(400, seed=7)
    positive = vectors[0]
    scores = vectors @ positive
    negative = vectors[np.argsort(-scores)[5]]  # "less like this" about a track the seed's list would include

    def mean_sim_to_negative(order_scores: np.ndarray) -> float:
        top = np.argsort(-order_scores)[1:21]
        return float((vectors[top] @ negative).mean())

    before = mean_sim_to_negative(scores)
    rescored = penalise_negatives(scores, vectors, negative[None, :], 1.0)
    assert mean_sim_to_negative(rescored) < before - 0.05
    steered = steer_away(positive, negative[None, :], 0.5)
    assert mean_sim_to_negative(vectors @ steered) < before - 0.05
    assert np.array_equal(penalise_negatives(scores, vectors, np.zeros((0, 16)), 1.0), scores)


def test_attribution_names_the_closest_seed() -> None:
    seeds, pool = _two_seed_pool(1)
    who = attribute(pool, seeds)
    assert (who.seed[:40] == 0).all() and (who.seed[40:] == 1).all()
    assert np.allclose(who.similarity, (pool @ seeds.T).max(axis=1))
