"""Pooling, the one definition: mean over time inside a clip, mean over a track's clips, then L2 normalisation.

Every encoder (MuQ, MuQ-MuLan, checkpoints) and the Ray job's CPU pooling stage use these functions, so the
local and the Ray engine produce bit-identical track vectors. The numpy functions keep the exact operation
order the vectors have always had (float32 mean over clips, `x / max(||x||, 1e-12)`); torch is not imported
here, so the Ray pooling tasks do not pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

NORM_FLOOR = 1e-12  # an all-zero vector stays zero instead of dividing by zero


def mean_over_time(hidden: torch.Tensor) -> torch.Tensor:
    """(batch, frames, dim) hidden states -> (batch, dim): the mean over frames (differentiable, for training)."""
    return hidden.mean(dim=1)


def l2_normalise(vectors: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """Rows divided by their L2 norm (floored at `NORM_FLOOR`), returned as `dtype` (no copy when it already is)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = (vectors / np.maximum(norms, NORM_FLOOR)).astype(dtype, copy=False)
    return normalised


def pool_tracks(clip_vectors: Sequence[np.ndarray | None], dim: int) -> np.ndarray:
    """Per track, its (n_clips, dim) clip vectors -> (n_tracks, dim) float32: the mean over clips, L2-normalised.

    A `None` entry (a track that failed upstream) gives a zero row.
    """
    pooled = np.zeros((len(clip_vectors), dim), dtype=np.float32)
    for i, clips in enumerate(clip_vectors):
        if clips is not None:
            pooled[i] = clips.mean(axis=0)
    return l2_normalise(pooled)
