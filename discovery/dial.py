"""The discovery dial: maximal marginal relevance, the similarity-threshold mode, and hubness correction (CSLS)
with k-occurrence skew to measure it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discovery.vectors import unit_rows

#: the neighbourhood size of the hubness correction and of the k-occurrence metric (the report's top 10)
HUBNESS_K = 10
#: rows per block when comparing a library with itself (bounds memory to block x library floats)
BLOCK_ROWS = 1024
#: library-wide similarity passes run in float32: twice the BLAS speed, and cosines need no more precision
_PASS_DTYPE = np.float32


def mmr_rerank(relevance: np.ndarray, vectors: np.ndarray, n: int, discovery: float) -> list[int]:
    """Rows of `vectors` picked greedily by maximal marginal relevance: `relevance` minus `discovery` x the highest
    similarity to a row picked before (the first pick has nothing to be redundant with); 0 keeps relevance order."""
    rel = np.asarray(relevance, dtype=np.float64)
    count = min(n, len(rel))
    if count <= 0:
        return []
    if discovery <= 0:
        return [int(i) for i in np.argsort(-rel, kind="stable")[:count]]
    x = np.asarray(vectors, dtype=np.float64)
    redundancy = np.zeros(len(rel))
    open_rows = np.ones(len(rel), dtype=bool)
    picked: list[int] = []
    for step in range(count):
        gain = np.where(open_rows, rel - discovery * redundancy, -np.inf)
        best = int(np.argmax(gain))
        picked.append(best)
        open_rows[best] = False
        sims = x @ x[best]
        redundancy = sims if step == 0 else np.maximum(redundancy, sims)
    return picked


def mmr_order(query: np.ndarray, vectors: np.ndarray, n: int, discovery: float) -> list[int]:
    """MMR with relevance = similarity to `query`: the drop-in for `api.playlists.recommend.mmr_order`."""
    if len(vectors) == 0 or n <= 0:
        return []
    return mmr_rerank(
        np.asarray(vectors, dtype=np.float64) @ np.asarray(query, dtype=np.float64), vectors, n, discovery
    )


def above_threshold(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Rows scoring at least `threshold`, best first ("everything above tau")."""
    s = np.asarray(scores, dtype=np.float64)
    rows = np.flatnonzero(s >= threshold)
    return rows[np.argsort(-s[rows], kind="stable")]


def _blocks(n: int) -> range:
    return range(0, n, BLOCK_ROWS)


def neighbourhood_radius(library_vectors: np.ndarray, k: int = HUBNESS_K) -> np.ndarray:
    """Per library track, its mean cosine to its `k` nearest other tracks: r_k in CSLS (Conneau et al., 2018).

    Hubs sit close to many tracks, so their r_k is high. Precompute it once per vector set and store it beside
    the vectors; a query's correction then costs one subtraction per candidate.
    """
    x = unit_rows(library_vectors).astype(_PASS_DTYPE)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    kk = min(k, n - 1)
    radius = np.empty(n)
    for start in _blocks(n):
        sims = x[start : start + BLOCK_ROWS] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # a track is not its own neighbour
        top = np.partition(sims, n - kk, axis=1)[:, n - kk :]
        radius[start : start + len(rows)] = top.mean(axis=1)
    return radius


def hubness_adjustment(radius: np.ndarray) -> np.ndarray:
    """What CSLS adds to a candidate's cosine: -r_k / 2, so the ranking follows 2 cos - r_k (the query's own r_k is
    the same for every candidate and drops out) while scores stay on the cosine scale."""
    return -0.5 * np.asarray(radius, dtype=np.float64)


def neighbour_lists(vectors: np.ndarray, k: int = HUBNESS_K, radius: np.ndarray | None = None) -> np.ndarray:
    """Every track's top-`k` other tracks (rows, best first) by cosine, or by CSLS when `radius` is given."""
    x = unit_rows(vectors).astype(_PASS_DTYPE)
    n = len(x)
    kk = min(k, n - 1)
    out = np.empty((n, max(kk, 0)), dtype=np.int64)
    if kk <= 0:
        return out
    penalty = (np.zeros(n) if radius is None else hubness_adjustment(radius)).astype(_PASS_DTYPE)
    for start in _blocks(n):
        scores = x[start : start + BLOCK_ROWS] @ x.T + penalty[None, :]
        rows = np.arange(scores.shape[0])
        scores[rows, start + rows] = -np.inf
        top = np.argpartition(scores, n - kk, axis=1)[:, n - kk :]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[start : start + len(rows)] = np.take_along_axis(top, order, axis=1)
    return out


def k_occurrence_counts(neighbours: np.ndarray, n: int) -> np.ndarray:
    """N_k per track: in how many other tracks' top-k lists it appears (negative ids, list padding, skipped)."""
    ids = np.asarray(neighbours, dtype=np.int64).ravel()
    return np.bincount(ids[ids >= 0], minlength=n)


def skewness(values: np.ndarray) -> float:
    """Sample skewness (the biased third standardised moment, as scipy.stats.skew); 0 for constant values."""
    v = np.asarray(values, dtype=np.float64)
    centred = v - v.mean()
    spread = float(np.sqrt(np.mean(centred**2))) if len(v) else 0.0
    if spread <= 0:
        return 0.0
    return float(np.mean(centred**3) / spread**3)


@dataclass(frozen=True)
class KOccurrence:
    """How evenly tracks appear in each other's top-k lists."""

    k: int
    skew: float  # 0 = even; large and positive = a few hubs crowd every list
    max_count: int
    coverage: float  # share of tracks in at least one list
    counts: np.ndarray


def k_occurrence(neighbours: np.ndarray, n: int) -> KOccurrence:
    """k-occurrence skew (Radovanović et al., 2010), the largest N_k and the share of tracks ever recommended."""
    counts = k_occurrence_counts(neighbours, n)
    return KOccurrence(
        k=int(neighbours.shape[1]) if neighbours.ndim == 2 else 0,
        skew=skewness(counts),
        max_count=int(counts.max(initial=0)),
        coverage=float((counts > 0).mean()) if n else 0.0,
        counts=counts,
    )
