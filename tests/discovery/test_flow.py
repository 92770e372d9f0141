"""Flow: smooth transitions, tempo and key terms, energy curves and the A-to-B path."""

from __future__ import annotations

import numpy as np
import pytest

from discovery.flow import (
    camelot,
    energy_order,
    key_distance,
    path_cost,
    smooth_order,
    sonic_path,
    tempo_distance,
    transition_costs,
)
from discovery.policy import violates_artist_gap
from tests.discovery.corpus import clusters


@pytest.mark.parametrize("seed", range(4))
def test_smooth_order_lowers_the_sum_of_consecutive_distances(seed: int) -> None:
    vectors = clusters(30, seed=seed)
    costs = transition_costs(vectors)
    ranked = list(range(30))
    order = smooth_order(costs)
    assert sorted(order) == ranked
    assert path_cost(costs, order) < 0.8 * path_cost(costs, ranked)
    fixed = smooth_order(costs, start=0)
    assert fixed[0] == 0 and sorted(fixed) == ranked
    assert path_cost(costs, fixed) < path_cost(costs, ranked)


def test_two_opt_untangles_a_crossing() -> None:
    # points on a line: the only optimal open path is the sorted one (or its reverse)
    angles = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    order = smooth_order(transition_costs(vectors), start=3)
    assert order[0] == 3
    best = smooth_order(transition_costs(vectors))
    assert best in ([0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0])


def test_smooth_order_keeps_the_artist_gap() -> None:
    vectors = clusters(12, seed=9)
    artists = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    order = smooth_order(transition_costs(vectors), start=0, artist_ids=artists, min_artist_gap=2)
    assert not violates_artist_gap(artists[order], 2)


def test_tempo_and_key_terms() -> None:
    assert tempo_distance(120, 120) == 0 and tempo_distance(60, 120) == 0
    assert tempo_distance(120, 90) == pytest.approx(abs(np.log2(120 / 90)))
    assert camelot(0, minor=False) == "8B" and camelot(9, minor=True) == "8A" and camelot(7, minor=False) == "9B"
    assert camelot(11, minor=False) == "1B"
    assert key_distance("8B", "8B") == 0 and key_distance("8B", "9B") == key_distance("8B", "8A") == 1 / 7
    assert key_distance("1A", "12A") == 1 / 7 and key_distance("1A", "7B") == 1.0
    vectors = np.ones((4, 3))  # identical sound: only tempo and key tell the tracks apart
    costs = transition_costs(vectors, tempi=[90, 128, 92, 126], keys=["8B", "3A", "8B", "3A"])
    order = smooth_order(costs, start=0)
    assert order == [0, 2, 3, 1] or order == [0, 2, 1, 3]
    with pytest.raises(ValueError, match="tempo"):
        transition_costs(vectors, tempi=[90, 0, 90, 90])


def test_energy_curves() -> None:
    energies = [0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.25]
    rise = [energies[i] for i in energy_order(energies, "rise")]
    assert rise == sorted(rise)
    fall = [energies[i] for i in energy_order(energies, "fall")]
    assert fall == sorted(fall, reverse=True)
    arc = [energies[i] for i in energy_order(energies, "arc")]
    peak = arc.index(max(arc))
    assert 0 < peak < len(arc) - 1
    assert arc[: peak + 1] == sorted(arc[: peak + 1]) and arc[peak:] == sorted(arc[peak:], reverse=True)


def test_sonic_path_walks_from_a_to_b() -> None:
    library = clusters(500, seed=5)
    a, b = 0, int(np.argmin(library @ library[0]))
    path = sonic_path(library, a, b, 8)
    assert path[0] == a and path[-1] == b and len(set(path)) == 8
    to_b = library[path] @ library[b]
    assert to_b[-1] > to_b[0] and np.corrcoef(np.arange(8), to_b)[0, 1] > 0.8
    costs = transition_costs(library)
    rng = np.random.default_rng(0)
    random_paths = [[a, *rng.choice(np.setdiff1d(np.arange(500), [a, b]), 6, replace=False), b] for _ in range(20)]
    assert path_cost(costs, path) < min(path_cost(costs, p) for p in random_paths)
    with pytest.raises(ValueError):
        sonic_path(library, a, a, 5)
    with pytest.raises(ValueError):
        sonic_path(library[:5], 0, 1, 6)
