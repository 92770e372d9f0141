"""The whole pass: options in, a playlist with attribution and an explained shortfall out."""

from __future__ import annotations

import numpy as np
import pytest

from discovery.blend import centroid
from discovery.dial import neighbourhood_radius
from discovery.engine import TrackFeatures, compose_playlist
from discovery.flow import path_cost, transition_costs
from discovery.options import DiscoveryOptions
from discovery.policy import Blocklist, violates_artist_gap
from discovery.tracks import Candidates, Tracks
from tests.discovery.corpus import clusters, pool, with_planted_hubs


def _library(n: int = 300) -> tuple[np.ndarray, Tracks]:
    vectors = clusters(n, seed=21)
    seeds = Tracks.build([1, 2], vectors[:2])
    return vectors, seeds


def test_exact_n_with_attribution() -> None:
    vectors, seeds = _library()
    candidates = pool(vectors[2:], centroid(seeds.vectors), artist_ids=[i % 40 for i in range(298)])
    result = compose_playlist(candidates, seeds, 20, DiscoveryOptions(min_artist_gap=3))
    assert len(result.picks) == 20 and result.explanation is None
    assert not violates_artist_gap([candidates.artist_ids[p.row] for p in result.picks], 3)
    for p in result.picks:
        sims = seeds.vectors @ candidates.vectors[p.row]
        assert p.matched_seed == int(np.argmax(sims)) and p.matched_seed_track_id in (1, 2)
        assert p.seed_similarity == pytest.approx(float(sims.max()))


def test_threshold_mode_and_its_shortfall() -> None:
    vectors, seeds = _library()
    candidates = pool(vectors[2:], centroid(seeds.vectors))
    tau = float(np.sort(candidates.scores)[-8])
    result = compose_playlist(candidates, seeds, 20, DiscoveryOptions(mode="threshold", threshold=tau))
    assert len(result.picks) == 8 and all(p.score >= tau for p in result.picks)
    assert result.policy.dropped["below_threshold"] == 290
    assert "290 scored below the similarity threshold" in (result.explanation or "")


def test_fair_share_through_the_engine() -> None:
    vectors, seeds = _library()
    candidates = pool(vectors[2:], centroid(seeds.vectors))
    options = DiscoveryOptions(blend="fair_share", seed_weights=[3.0, 1.0], max_per_artist=None)
    result = compose_playlist(candidates, seeds, 20, options)
    assert [p.matched_seed for p in result.picks].count(0) == 15


def test_negative_seeds_and_blocklists_through_the_engine() -> None:
    vectors, seeds = _library()
    candidates = pool(vectors[2:], centroid(seeds.vectors))
    plain = compose_playlist(candidates, seeds, 20, DiscoveryOptions())
    negative = candidates.vectors[3]
    pushed = compose_playlist(candidates, seeds, 20, DiscoveryOptions(negative_weight=1.0), negatives=negative[None])

    def mean_to_negative(r: object) -> float:
        return float(np.mean([candidates.vectors[p.row] @ negative for p in r.picks]))  # type: ignore[attr-defined]

    assert mean_to_negative(pushed) < mean_to_negative(plain) - 0.05
    blocked = Blocklist(track_ids=frozenset(plain.policy.track_ids[:5]))
    again = compose_playlist(candidates, seeds, 20, DiscoveryOptions(), blocklist=blocked)
    assert not set(again.policy.track_ids) & blocked.track_ids and again.policy.dropped["blocked_track"] == 5


def test_hubness_correction_needs_and_uses_the_radius() -> None:
    library = with_planted_hubs(600, hubs=12)
    radius = neighbourhood_radius(library, 10)
    hubs = set(range(600, 612))
    on = DiscoveryOptions(hubness_correction=True, max_per_artist=None)
    off = DiscoveryOptions(max_per_artist=None)
    in_plain = in_corrected = 0
    for seed_row in range(0, 600, 5):
        seeds = Tracks.build([seed_row], library[seed_row : seed_row + 1])
        candidates = pool(library, library[seed_row], first_id=0)  # ids are library rows here
        if seed_row == 0:
            with pytest.raises(ValueError, match="radius"):
                compose_playlist(candidates, seeds, 10, on)
        plain = compose_playlist(candidates, seeds, 10, off)
        corrected = compose_playlist(candidates, seeds, 10, on, radius=radius[candidates.track_ids])
        in_plain += len(hubs & set(plain.policy.track_ids))
        in_corrected += len(hubs & set(corrected.policy.track_ids))
    assert in_corrected < in_plain / 2


def test_flow_modes() -> None:
    vectors, seeds = _library()
    candidates = pool(vectors[2:], centroid(seeds.vectors))
    ranked = compose_playlist(candidates, seeds, 20, DiscoveryOptions())
    smooth = compose_playlist(candidates, seeds, 20, DiscoveryOptions(flow="smooth"))
    assert set(smooth.policy.track_ids) == set(ranked.policy.track_ids)
    assert smooth.policy.track_ids[0] == ranked.policy.track_ids[0]
    costs = transition_costs(candidates.vectors)
    assert path_cost(costs, smooth.policy.rows) < path_cost(costs, ranked.policy.rows)
    energies = np.linspace(0, 1, len(candidates))[::-1]
    rising = compose_playlist(
        candidates, seeds, 20, DiscoveryOptions(flow="energy_rise"), features=TrackFeatures(energies=energies)
    )
    got = [energies[p.row] for p in rising.picks]
    assert got == sorted(got)
    with pytest.raises(ValueError, match="energy"):
        compose_playlist(candidates, seeds, 20, DiscoveryOptions(flow="energy_arc"))


def test_an_empty_pool_explains_itself() -> None:
    seeds = Tracks.build([1], np.ones((1, 4)))
    empty = Candidates.ranked(Tracks.build([], np.zeros((0, 4))), [])
    for options in (DiscoveryOptions(), DiscoveryOptions(blend="fair_share"), DiscoveryOptions(flow="smooth")):
        result = compose_playlist(empty, seeds, 5, options)
        assert result.picks == [] and result.policy.shortfall == 5
        assert result.explanation == "asked for 5, found 0 of 0 candidates: no more candidates matched"
    with pytest.raises(ValueError, match="seed"):
        compose_playlist(empty, Tracks.build([], np.zeros((0, 4))), 5, DiscoveryOptions())
