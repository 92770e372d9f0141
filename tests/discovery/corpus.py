"""Small synthetic vector corpora for the discovery tests: genre-like clusters, and clusters with planted hubs."""

from __future__ import annotations

import numpy as np

from discovery.tracks import Candidates, Tracks
from discovery.vectors import unit_rows


def clusters(n: int, dim: int = 16, k: int = 8, spread: float = 1.0, seed: int = 0) -> np.ndarray:
    """`n` unit vectors around `k` random centres."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(k, dim)))
    return unit_rows(centres[rng.integers(0, k, n)] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim) * 2.4)


def with_planted_hubs(n: int, hubs: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Clusters plus `hubs` rows planted at the corpus mean (close to everyone, so in too many top-k lists); the
    hubs are the last rows."""
    x = clusters(n, dim, seed=seed)
    rng = np.random.default_rng(seed + 1)
    planted = unit_rows(x.mean(axis=0) + 0.02 * rng.normal(size=(hubs, dim)))
    return np.vstack([x, planted])


def pool(
    vectors: np.ndarray,
    query: np.ndarray,
    *,
    artist_ids: list[int] | None = None,
    album_ids: list[int] | None = None,
    titles: list[str] | None = None,
    artist_names: list[str] | None = None,
    first_id: int = 100,
) -> Candidates:
    """Candidates ranked by cosine to `query`, with ids first_id, first_id + 1, ... in the rows' order."""
    table = Tracks.build(
        np.arange(first_id, first_id + len(vectors)),
        vectors,
        artist_ids=artist_ids,
        album_ids=album_ids,
        titles=titles,
        artist_names=artist_names,
    )
    scores = table.vectors @ unit_rows(query)[0]
    order = np.argsort(-scores, kind="stable")
    return Candidates.ranked(table, scores).take(order)
