"""Each track's neighbourhood radius from the served index: the mean similarity to its k nearest library tracks,
for the discovery engine's hubness correction (CSLS). One batched Milvus request for a whole candidate pool."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from indexing.search import SERVING_CONSISTENCY, hit_id

if TYPE_CHECKING:
    from indexing.search import ServingIndex


def neighbourhood_radius(index: ServingIndex, track_ids: list[int], vectors: np.ndarray, k: int) -> np.ndarray:
    """r_k per row of `vectors` (the unit vectors of library tracks `track_ids`): the mean inner product with its
    k nearest served tracks other than itself, from one unfiltered search with all rows as queries."""
    if len(track_ids) == 0:
        return np.zeros(0)
    plan = index.current_plan()
    results = index._call(
        "search",
        collection_name=index.alias,
        data=np.asarray(vectors, dtype=np.float32).tolist(),
        limit=k + 1,
        anns_field="vector",
        search_params=plan.search_params(),
        output_fields=["track_id"],
        consistency_level=SERVING_CONSISTENCY,
    )
    radius = np.zeros(len(track_ids))
    for row, (own, hits) in enumerate(zip(track_ids, results, strict=True)):
        sims = [float(h["distance"]) for h in hits if hit_id(h) != own][:k]
        radius[row] = float(np.mean(sims)) if sims else 0.0
    return radius
