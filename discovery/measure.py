"""The evaluation hook: hubness (k-occurrence skew) and intra-list diversity of a vector set's neighbour lists,
before and after the hubness correction; the evaluation report and the benchmarks print it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from discovery.dial import BLOCK_ROWS, HUBNESS_K, KOccurrence, k_occurrence, neighbour_lists
from discovery.vectors import unit_rows


@dataclass(frozen=True)
class ListStats:
    """One way of building every track's top-k list, measured."""

    k_occurrence: KOccurrence
    diversity: float  # mean over tracks of their list's intra-list diversity
    similarity: float  # mean cosine between a track and the tracks of its list

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the counts array left out)."""
        k = self.k_occurrence
        return {
            "k_occurrence_skew": k.skew,
            "max_k_occurrence": k.max_count,
            "coverage": k.coverage,
            "intra_list_diversity": self.diversity,
            "mean_similarity": self.similarity,
        }


@dataclass(frozen=True)
class HubnessDiversity:
    """Top-k lists of every track by plain cosine and by CSLS, side by side."""

    k: int
    tracks: int
    plain: ListStats
    corrected: ListStats

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {"k", "tracks", "plain": {...}, "corrected": {...}}."""
        return {
            "k": self.k,
            "tracks": self.tracks,
            "plain": self.plain.as_dict(),
            "corrected": self.corrected.as_dict(),
        }


def _mean_similarity(x: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """Per row, the mean cosine to the rows of its list (for the plain top-k lists: r_k of CSLS)."""
    out = np.zeros(len(x))
    for start in range(0, len(x), BLOCK_ROWS):
        block = x[start : start + BLOCK_ROWS]
        out[start : start + len(block)] = np.einsum("bd,bkd->bk", block, x[lists[start : start + len(block)]]).mean(
            axis=1
        )
    return out


def _stats(x: np.ndarray, lists: np.ndarray) -> ListStats:
    n, k = lists.shape
    diversity = np.zeros(n)
    for start in range(0, n, BLOCK_ROWS):
        members = x[lists[start : start + BLOCK_ROWS]]  # (block, k, d)
        gram = np.einsum("bkd,bjd->bkj", members, members)
        off_diagonal = gram.sum(axis=(1, 2)) - np.trace(gram, axis1=1, axis2=2)
        diversity[start : start + len(members)] = 1.0 - off_diagonal / (k * (k - 1)) if k > 1 else 0.0
    return ListStats(
        k_occurrence=k_occurrence(lists, n),
        diversity=float(diversity.mean()),
        similarity=float(_mean_similarity(x, lists).mean()),
    )


def hubness_and_diversity(
    vectors: np.ndarray, k: int = HUBNESS_K, plain_lists: np.ndarray | None = None
) -> HubnessDiversity:
    """k-occurrence skew, coverage and intra-list diversity (as `vectors.intra_list_diversity`) of every track's
    top-`k` list, before and after CSLS.

    Exact, two blockwise brute-force passes over the set (the radius comes from the plain lists), one when the
    caller already holds the plain top-`k` lists (`plain_lists`, rows best first, self excluded); memory is one
    block x N floats.
    """
    x = unit_rows(vectors)
    if len(x) <= k:
        raise ValueError(f"hubness over top-{k} lists needs more than {k} tracks, got {len(x)}")
    if plain_lists is not None and plain_lists.shape != (len(x), k):
        raise ValueError(f"plain_lists must be ({len(x)}, {k}), got {plain_lists.shape}")
    plain = neighbour_lists(x, k) if plain_lists is None else np.asarray(plain_lists, dtype=np.int64)
    corrected = neighbour_lists(x, k, _mean_similarity(x, plain))
    return HubnessDiversity(k=k, tracks=len(x), plain=_stats(x, plain), corrected=_stats(x, corrected))
