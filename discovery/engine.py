"""The whole discovery pass over a candidate pool: rescoring (negative seeds, hubness), the dial (threshold, MMR or
fair share), the playlist policy, flow ordering and per-track attribution. The caller fetched the pool (an index
search for the blended query, see `blend.centroid` and `blend.steer_away`) and joins metadata to the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from discovery.blend import attribute, fair_share_order, penalise_negatives
from discovery.dial import above_threshold, hubness_adjustment, mmr_rerank
from discovery.flow import energy_order, smooth_order, transition_costs
from discovery.options import DiscoveryOptions
from discovery.policy import Blocklist, PolicyResult, apply_policy
from discovery.tracks import Candidates, Tracks


@dataclass(frozen=True)
class Pick:
    """One playlist position: the track, its score after every rule, and the seed it matched."""

    track_id: int
    row: int  # the candidate's row in the pool the caller passed
    score: float  # the pool's score plus the negative-seed and hubness adjustments
    similarity: float  # the pool's score as given (cosine to the query)
    matched_seed: int  # index into the seeds
    matched_seed_track_id: int
    seed_similarity: float  # cosine to the matched seed


@dataclass(frozen=True)
class DiscoveredPlaylist:
    """The picks in playlist order and the policy's account of every candidate it dropped."""

    picks: list[Pick]
    policy: PolicyResult

    @property
    def explanation(self) -> str | None:
        """Why the playlist is short (None when it has every track asked for)."""
        return self.policy.explanation()


@dataclass(frozen=True)
class TrackFeatures:
    """Optional per-candidate features flow ordering can use (aligned with the pool's rows)."""

    energies: Sequence[float] | np.ndarray | None = None
    tempi: Sequence[float] | np.ndarray | None = None
    keys: Sequence[str] | None = None  # Camelot codes, see `flow.camelot`


def adjustments(
    pool: Candidates,
    options: DiscoveryOptions,
    negatives: np.ndarray | None = None,
    radius: np.ndarray | None = None,
) -> np.ndarray:
    """What the negative seeds and the hubness correction add to each candidate's score."""
    adjust = np.zeros(len(pool))
    if negatives is not None and len(negatives):
        adjust = penalise_negatives(adjust, pool.vectors, negatives, options.negative_weight)
    if options.hubness_correction:
        if radius is None or len(radius) != len(pool):
            raise ValueError(
                "hubness correction needs each candidate's neighbourhood radius (dial.neighbourhood_radius)"
            )
        adjust = adjust + hubness_adjustment(radius)
    return adjust


def compose_playlist(
    pool: Candidates,
    seeds: Tracks,
    size: int,
    options: DiscoveryOptions,
    *,
    blocklist: Blocklist | None = None,
    negatives: np.ndarray | None = None,
    radius: np.ndarray | None = None,
    features: TrackFeatures | None = None,
) -> DiscoveredPlaylist:
    """`size` picks from `pool` under every rule of `options`, or fewer with the reasons counted.

    `negatives` are the negative seeds' vectors; `radius` each candidate's precomputed r_k (needed only with
    hubness correction); `features` feed the flow modes.
    """
    if len(seeds) == 0:
        raise ValueError("a playlist needs at least one seed")
    adjust = adjustments(pool, options, negatives, radius)
    scores = pool.scores + adjust
    rows = np.arange(len(pool))
    already = {}
    if options.mode == "threshold":
        assert options.threshold is not None  # the options model enforces it
        rows = above_threshold(scores, options.threshold)
        already["below_threshold"] = len(pool) - len(rows)
    matched: list[int] | None = None
    if options.blend == "fair_share":
        local, matched = fair_share_order(
            pool.vectors[rows],
            seeds.vectors,
            options.seed_weights,
            discovery=options.discovery,
            adjustment=adjust[rows],
        )
    else:
        local = mmr_rerank(scores[rows], pool.vectors[rows], len(rows), options.discovery)
    order = rows[np.asarray(local, dtype=np.int64)]
    ranked = Candidates.ranked(pool.take(order), scores[order])
    result = apply_policy(ranked, size, options, seeds=seeds, blocklist=blocklist, already_dropped=already)

    chosen = [int(order[r]) for r in result.rows]
    chosen = [chosen[i] for i in _flow(pool, chosen, options, features)]
    attribution = attribute(pool.vectors[chosen], seeds.vectors)
    turn_of = dict(zip(order.tolist(), matched, strict=True)) if matched is not None else {}
    picks = []
    for k, row in enumerate(chosen):
        seed = turn_of.get(row, int(attribution.seed[k]))
        picks.append(
            Pick(
                track_id=int(pool.track_ids[row]),
                row=row,
                score=float(scores[row]),
                similarity=float(pool.scores[row]),
                matched_seed=seed,
                matched_seed_track_id=int(seeds.track_ids[seed]),
                seed_similarity=float(pool.vectors[row] @ seeds.vectors[seed]),
            )
        )
    final = PolicyResult(
        requested=result.requested,
        rows=chosen,
        track_ids=[p.track_id for p in picks],
        scores=[p.score for p in picks],
        considered=result.considered,
        dropped=result.dropped,
    )
    return DiscoveredPlaylist(picks=picks, policy=final)


def _flow(pool: Candidates, chosen: list[int], options: DiscoveryOptions, features: TrackFeatures | None) -> list[int]:
    """Positions of `chosen` in the order the flow mode asks for (the policy's order for "ranked")."""
    if options.flow == "ranked" or len(chosen) < 3:
        return list(range(len(chosen)))
    f = features or TrackFeatures()
    if options.flow == "smooth":
        costs = transition_costs(
            pool.vectors[chosen],
            tempi=None if f.tempi is None else [f.tempi[r] for r in chosen],
            keys=None if f.keys is None else [f.keys[r] for r in chosen],
        )
        # the best match stays first: the listener asked for it most
        return smooth_order(costs, start=0, artist_ids=pool.artist_ids[chosen], min_artist_gap=options.min_artist_gap)
    if f.energies is None:
        raise ValueError(f"flow {options.flow!r} needs each candidate's energy")
    shape = options.flow.removeprefix("energy_")
    assert shape in ("rise", "fall", "arc")
    return energy_order([f.energies[r] for r in chosen], shape)  # type: ignore[arg-type]
