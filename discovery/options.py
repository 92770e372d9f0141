"""THE option model of the discovery engine: one schema, one set of defaults, shared by the web page, the listener
API and `/v1` (the API's request bodies inherit it, so both show the same fields in their OpenAPI documents)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: how the seed vectors become a ranking
BlendMode = Literal["centroid", "fair_share"]
#: how many candidates the dial keeps: the top of the ranking, or every candidate above `threshold`
DialMode = Literal["top", "threshold"]
#: how the finished playlist is ordered
FlowMode = Literal["ranked", "smooth", "energy_rise", "energy_fall", "energy_arc"]

#: cosine at or above which two tracks count as the same recording (the API's rule before this engine)
NEAR_DUPLICATE_COSINE = 0.995
#: most track or artist ids one request may exclude
MAX_EXCLUDED = 1000
#: a library track id: bounded like the database column (a larger one is a 422, never an overflow)
LibraryTrackId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class DiscoveryOptions(BaseModel):
    """How a playlist is blended, dialled, filtered and ordered; every field has the default both APIs use."""

    model_config = ConfigDict(extra="forbid")

    # playlist policy
    max_per_artist: int | None = Field(
        default=2, ge=1, le=100, description="at most this many tracks by one artist (null: no cap)"
    )
    max_per_album: int | None = Field(
        default=None, ge=1, le=100, description="at most this many tracks from one album (null: no cap)"
    )
    min_artist_gap: int = Field(
        default=0,
        ge=0,
        le=20,
        description="at least this many other tracks between two tracks by one artist (0: no rule)",
    )
    exclude_track_ids: list[LibraryTrackId] = Field(
        default_factory=list,
        max_length=MAX_EXCLUDED,
        description="library track ids never to include (already heard, already in a playlist)",
    )
    exclude_near_duplicates: bool = Field(
        default=False,
        description=f"drop tracks nearly identical to a seed or an earlier pick (cosine >= {NEAR_DUPLICATE_COSINE})",
    )
    exclude_alternate_versions: bool = Field(
        default=True,
        description="drop live, remastered, edited and remixed versions of a seed or an earlier pick "
        "(same normalised title and artist)",
    )
    # seed blending
    blend: BlendMode = Field(
        default="centroid",
        description="centroid: rank by similarity to the (weighted) mean seed; fair_share: take turns between the "
        "seeds in proportion to their weights, so no seed dominates",
    )
    seed_weights: list[float] | None = Field(
        default=None,
        max_length=10,
        description="one weight (> 0) per seed, in seed order (null: equal weights)",
    )
    negative_seed_track_ids: list[LibraryTrackId] = Field(
        default_factory=list, max_length=10, description="'less like this': library tracks to steer away from"
    )
    negative_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=2.0,
        description="how hard negative seeds push: the score loses this x the similarity to the nearest negative",
    )
    # discovery dial
    discovery: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="0 = most similar first; up to 1 = trade similarity for novelty (maximal marginal relevance: "
        "each pick's similarity to the seed minus `discovery` x its similarity to the tracks already picked)",
    )
    mode: DialMode = Field(
        default="top", description="top: the best `size` tracks; threshold: only tracks scoring at least `threshold`"
    )
    threshold: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="the score a track needs in threshold mode (cosine)"
    )
    hubness_correction: bool = Field(
        default=False,
        description="discount tracks that sit in too many neighbourhoods (CSLS: score minus half the track's mean "
        "similarity to its k nearest library neighbours)",
    )
    # flow
    flow: FlowMode = Field(
        default="ranked",
        description="ranked: best first; smooth: reorder for smooth transitions; energy_rise / energy_fall / "
        "energy_arc: order along an energy curve",
    )

    @model_validator(mode="after")
    def _consistent(self) -> DiscoveryOptions:
        if self.mode == "threshold" and self.threshold is None:
            raise ValueError("mode 'threshold' needs a threshold (a cosine between -1 and 1)")
        if self.seed_weights is not None and any(not (math.isfinite(w) and w > 0) for w in self.seed_weights):
            raise ValueError("seed_weights must all be finite and greater than 0")
        return self
