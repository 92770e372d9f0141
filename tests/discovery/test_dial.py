"""The discovery dial: MMR, threshold mode, hubness correction and the k-occurrence metric."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import skew

from discovery.dial import (
    above_threshold,
    k_occurrence,
    mmr_order,
    neighbour_lists,
    neighbourhood_radius,
    skewness,
)
from discovery.measure import hubness_and_diversity
from discovery.vectors import intra_list_diversity, unit_rows
from tests.discovery.corpus import clusters, with_planted_hubs


def test_mmr_zero_is_similarity_order() -> None:
    vectors = clusters(50, seed=1)
    query = vectors[0]
    assert mmr_order(query, vectors, 10, 0.0) == [int(i) for i in np.argsort(-(vectors @ query), kind="stable")[:10]]
    assert mmr_order(query, vectors, 0, 0.5) == [] and mmr_order(query, np.zeros((0, 16)), 5, 0.5) == []
    assert len(mmr_order(query, vectors, 80, 0.5)) == 50


def test_mmr_worked_example() -> None:
    # relevance a 0.951, b 0.940, c 0.898; b is a near copy of a (0.9995), c is not (0.718)
    query = np.array([1.0, 0.0])
    vectors = unit_rows(np.array([[0.95, 0.31], [0.94, 0.34], [0.9, -0.44]]))
    assert mmr_order(query, vectors, 3, 0.0) == [0, 1, 2]
    # after a, the gain is relevance - discovery x similarity to a: b 0.940 - 0.100 > c 0.898 - 0.072
    assert mmr_order(query, vectors, 3, 0.1) == [0, 1, 2]
    # b 0.940 - 0.9995 < c 0.898 - 0.718
    assert mmr_order(query, vectors, 3, 1.0) == [0, 2, 1]


def test_mmr_raises_intra_list_diversity() -> None:
    vectors = clusters(600, spread=0.5, seed=2)
    query = vectors[0]
    plain = vectors[mmr_order(query, vectors, 20, 0.0)]
    diverse = vectors[mmr_order(query, vectors, 20, 0.7)]
    assert intra_list_diversity(diverse) > intra_list_diversity(plain) + 0.04
    assert (diverse @ query).mean() < (plain @ query).mean()  # the price: less similar to the seed


def test_threshold_keeps_everything_above_tau() -> None:
    scores = np.array([0.2, 0.9, 0.5, 0.7, 0.5])
    assert above_threshold(scores, 0.5).tolist() == [1, 3, 2, 4]
    assert above_threshold(scores, 0.95).tolist() == []


def test_radius_matches_brute_force() -> None:
    x = clusters(120, seed=4)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.sort(sims, axis=1)[:, -5:].mean(axis=1)
    assert np.allclose(neighbourhood_radius(x, 5), expected)
    lists = neighbour_lists(x, 5)
    assert (lists != np.arange(120)[:, None]).all()
    assert np.allclose(np.take_along_axis(sims, lists, axis=1), np.sort(sims, axis=1)[:, ::-1][:, :5])


def test_skewness_matches_scipy() -> None:
    values = np.random.default_rng(0).poisson(3, 500)
    assert skewness(values) == pytest.approx(float(skew(values)))
    assert skewness(np.ones(10)) == 0.0


def test_hubness_correction_reduces_skew_on_planted_hubs() -> None:
    x = with_planted_hubs(600, hubs=12)
    plain = k_occurrence(neighbour_lists(x, 10), len(x))
    corrected = k_occurrence(neighbour_lists(x, 10, neighbourhood_radius(x, 10)), len(x))
    hubs = slice(600, None)
    assert plain.counts[hubs].mean() > 2 * 10  # the planted rows are hubs: twice the mean occurrence
    assert corrected.skew < plain.skew - 0.3
    assert corrected.counts[hubs].mean() < plain.counts[hubs].mean() / 1.5
    assert plain.counts.sum() == corrected.counts.sum() == 10 * len(x)


def test_evaluation_hook_reports_before_and_after() -> None:
    x = with_planted_hubs(600, hubs=12)
    report = hubness_and_diversity(x, 10)
    figures = report.as_dict()
    assert figures["k"] == 10 and figures["tracks"] == 612
    assert figures["corrected"]["k_occurrence_skew"] < figures["plain"]["k_occurrence_skew"]
    assert figures["corrected"]["max_k_occurrence"] < figures["plain"]["max_k_occurrence"]
    # the hubs filled many lists; without them the lists spread out
    assert figures["corrected"]["intra_list_diversity"] > figures["plain"]["intra_list_diversity"]
    assert hubness_and_diversity(x, 10, plain_lists=neighbour_lists(x, 10)).as_dict() == figures
    with pytest.raises(ValueError, match="plain_lists"):
        hubness_and_diversity(x, 10, plain_lists=neighbour_lists(x, 5))
    one_list = neighbour_lists(x, 10)[7]
    assert 0 < intra_list_diversity(x[one_list]) < 2
    with pytest.raises(ValueError, match="more than 10"):
        hubness_and_diversity(x[:10], 10)
