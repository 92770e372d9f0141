"""The recommendation texts and tastes shared by playlist generation: seed profile, "why" texts and the unit mean
vector ("taste") of a list of tracks (the discovery rules themselves live in `discovery/`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from museed.vocab import TAG_AXES

#: the tags (by index field) a playlist entry can share with its seed, in the order "why" names them
WHY_AXES = tuple(a.milvus_field for a in TAG_AXES)
_WHY_TEXT = {a.milvus_field: a.why for a in TAG_AXES}


def seed_profile(seeds: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The tags the seeds stand for: per axis, the value most seeds share (at least half of them)."""
    out: dict[str, str] = {}
    for axis in WHY_AXES:
        values = Counter(str(s[axis]) for s in seeds if s.get(axis))
        if values:
            value, n = values.most_common(1)[0]
            if 2 * n >= len(seeds):
                out[axis] = value
    return out


def explain(fields: Mapping[str, Any], profile: Mapping[str, str], score: float) -> str:
    """A short reason for one pick: the tags it shares with the seed profile, else that it sounds alike."""
    shared = [_WHY_TEXT[a].format(profile[a]) for a in WHY_AXES if a in profile and fields.get(a) == profile[a]]
    if not shared:
        return f"sounds alike (similarity {score:.2f}); no shared tags"
    if len(shared) == 1:
        return f"shares {shared[0]}"
    return f"shares {', '.join(shared[:-1])} and {shared[-1]}"


def unit_mean(vectors: Sequence[np.ndarray]) -> list[float] | None:
    """The renormalised mean of unit vectors (None when empty or when they cancel out)."""
    if not vectors:
        return None
    mean = np.mean(np.stack(vectors).astype(np.float64), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-8:
        return None
    return [float(x) for x in mean / norm]
