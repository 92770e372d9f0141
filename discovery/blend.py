"""Seed blending: the weighted centroid, fair share between seeds (weighted round-robin), negative seeds that push
results away, and which seed each result matched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from discovery.dial import mmr_rerank
from discovery.vectors import unit, unit_rows


def seed_weights(n_seeds: int, weights: Sequence[float] | None) -> np.ndarray:
    """The seeds' weights normalised to sum 1 (equal when None); raises ValueError on a wrong count or value."""
    if n_seeds < 1:
        raise ValueError("blending needs at least one seed")
    if weights is None:
        return np.full(n_seeds, 1.0 / n_seeds)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n_seeds:
        raise ValueError(f"{n_seeds} seeds but {len(w)} seed weights")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("seed weights must be finite and greater than 0")
    return w / w.sum()


def centroid(seed_vectors: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """The unit weighted mean of the seeds: the query of a centroid playlist."""
    seeds = unit_rows(seed_vectors)
    return unit(seed_weights(len(seeds), weights) @ seeds)


def steer_away(query: np.ndarray, negative_vectors: np.ndarray, weight: float) -> np.ndarray:
    """The query moved away from the negative seeds (Rocchio): q - weight x mean(negatives), renormalised; use it
    for the index search so the candidate pool already leans away from them."""
    q = unit(query)
    if weight <= 0 or len(negative_vectors) == 0:
        return q
    return unit(q - weight * unit_rows(negative_vectors).mean(axis=0))


def penalise_negatives(
    scores: np.ndarray, candidate_vectors: np.ndarray, negative_vectors: np.ndarray, weight: float
) -> np.ndarray:
    """Scores minus `weight` x each candidate's similarity to its nearest negative seed (only where positive)."""
    s = np.asarray(scores, dtype=np.float64)
    if weight <= 0 or len(negative_vectors) == 0 or len(s) == 0:
        return s
    nearest = (unit_rows(candidate_vectors) @ unit_rows(negative_vectors).T).max(axis=1)
    return s - weight * np.clip(nearest, 0.0, None)


@dataclass(frozen=True)
class Attribution:
    """Per candidate: the index of the seed it matched best and its similarity to that seed."""

    seed: np.ndarray  # (n,) int64, index into the seeds
    similarity: np.ndarray  # (n,) float64


def attribute(candidate_vectors: np.ndarray, seed_vectors: np.ndarray) -> Attribution:
    """Which seed each candidate is closest to (the "matched seed" a result reports)."""
    if len(candidate_vectors) == 0:
        return Attribution(np.zeros(0, dtype=np.int64), np.zeros(0))
    sims = unit_rows(candidate_vectors) @ unit_rows(seed_vectors).T
    best = sims.argmax(axis=1)
    return Attribution(best.astype(np.int64), sims[np.arange(len(best)), best])


def turn_order(weights: np.ndarray, turns: int) -> list[int]:
    """Which seed takes each turn: smooth weighted round-robin, so every prefix is close to the weights' shares."""
    credit = np.zeros(len(weights))
    order: list[int] = []
    for _ in range(turns):
        credit += weights
        pick = int(np.argmax(credit))
        credit[pick] -= 1.0
        order.append(pick)
    return order


def fair_share_order(
    candidate_vectors: np.ndarray,
    seed_vectors: np.ndarray,
    weights: Sequence[float] | None = None,
    *,
    discovery: float = 0.0,
    adjustment: np.ndarray | None = None,
) -> tuple[list[int], list[int]]:
    """All candidate rows interleaved seed by seed, and the seed each row was taken for.

    Each seed ranks the pool by its own similarity plus `adjustment` (the per-candidate change other rules made:
    negative seeds, hubness), re-ranked by MMR when `discovery` > 0; seeds then take turns in proportion to their
    weights, each taking its best row not yet taken. A seed whose list runs out passes.
    """
    cands = unit_rows(candidate_vectors)
    seeds = unit_rows(seed_vectors)
    w = seed_weights(len(seeds), weights)
    if len(cands) == 0:
        return [], []
    sims = cands @ seeds.T  # (candidates, seeds)
    shift = np.zeros(len(cands)) if adjustment is None else np.asarray(adjustment, dtype=np.float64)
    lists = [mmr_rerank(sims[:, s] + shift, cands, len(cands), discovery) for s in range(len(seeds))]
    cursor = [0] * len(seeds)
    taken = np.zeros(len(cands), dtype=bool)
    rows: list[int] = []
    matched = turn_order(w, len(cands))
    for s in matched:
        # every seed ranks the whole pool, so its list always holds a row not yet taken
        while taken[lists[s][cursor[s]]]:
            cursor[s] += 1
        row = lists[s][cursor[s]]
        taken[row] = True
        rows.append(row)
    return rows, matched
