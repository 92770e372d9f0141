"""Small vector helpers every discovery rule shares: unit rows, cosine matrices and intra-list diversity."""

from __future__ import annotations

import numpy as np

#: below this norm a vector has no direction (a zero vector, or weights that cancel out)
EPSILON = 1e-8


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """`vectors` as float64 rows of length 1 (zero rows stay zero, so they match nothing)."""
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > EPSILON)


def unit(vector: np.ndarray) -> np.ndarray:
    """One vector scaled to length 1; raises ValueError when it has no direction."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    if norm <= EPSILON:
        raise ValueError("the vector has no direction (zero, or the weighted seeds cancel out)")
    return v / norm


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b`."""
    return unit_rows(a) @ unit_rows(b).T


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean cosine distance (1 - cosine) over all pairs of a list's tracks; 0 for lists under two tracks."""
    x = unit_rows(vectors)
    n = len(x)
    if n < 2:
        return 0.0
    sims = x @ x.T
    off_diagonal = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(1.0 - off_diagonal)
