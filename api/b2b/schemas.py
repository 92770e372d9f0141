"""Request and response bodies of the B2B `/v1` API (the recommendation options are the listener playlists')."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from api.common import distinct_track_ids
from api.playlists.schemas import RecommendationOptions
from api.tracks.schemas import TrackBrief

_QUERY_EXAMPLE: dict[str, JsonValue] = {
    "seed_track_ids": [2, 5],
    "count": 10,
    "mood_style": "dreamy",
    "max_per_artist": 1,
}


class RecommendationRequest(RecommendationOptions):
    """Seeds (1..10 library track ids, or one raw vector of the served dimension), the number of results and the
    listener playlists' filters and options."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_QUERY_EXAMPLE, {"vector": [0.1, -0.2, 0.05], "count": 5, "genre": "Rock"}]}
    )

    seed_track_ids: list[int] = Field(
        default_factory=list, max_length=10, description="library track ids (1..10); or give `vector`"
    )
    vector: list[float] | None = Field(
        default=None, description="a raw query vector of the served dimension (see /v1/meta), instead of seeds"
    )
    count: int = Field(default=20, ge=1, le=100, description="results wanted (1..100; capped by the plan)")

    @field_validator("seed_track_ids")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        return distinct_track_ids(v)

    @model_validator(mode="after")
    def _one_seed_kind(self) -> RecommendationRequest:
        if bool(self.seed_track_ids) == (self.vector is not None):
            raise ValueError("give either seed_track_ids (1..10 library tracks) or vector, not both or none")
        return self


class BatchRequest(BaseModel):
    """Up to 50 queries answered in one call (seeded by track ids or vectors); each counts as one query."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"queries": [_QUERY_EXAMPLE, {"seed_track_ids": [7], "count": 5}]}]},
    )

    queries: list[RecommendationRequest] = Field(min_length=1, max_length=50)


class RecommendedTrack(TrackBrief):
    """One result: the track's FMA metadata, its similarity to the seed(s) and why it was picked."""

    rank: int
    license: str | None = Field(description="the track's FMA (Creative Commons) licence")
    score: float = Field(description="cosine similarity between the track and the (mean) seed vector")
    why: str = Field(description="what the track shares with the seeds (tags), or that it sounds alike")


class RecommendationsOut(BaseModel):
    """The results of one query and the encoder and index version that answered it."""

    encoder_id: str | None
    vector_set_id: str | None
    index_version: str | None = Field(description="the served Milvus collection")
    count: int = Field(description="results returned")
    capped_by_plan: bool = Field(description="true when `count` was lowered to the plan's max results")
    results: list[RecommendedTrack]


class BatchOut(BaseModel):
    """One result list per query, in the order sent."""

    queries: list[RecommendationsOut]


class PlanOut(BaseModel):
    """A plan's limits."""

    name: str
    burst_per_second: int
    per_minute: int
    per_day: int
    per_month: int
    max_results: int


class MetaOut(BaseModel):
    """What serves the API now."""

    api_version: str = "v1"
    catalog_size: int = Field(description="tracks in the catalog")
    indexed_tracks: int = Field(description="tracks in the served index")
    encoder_id: str | None
    vector_set_id: str | None
    index_version: str | None = Field(description="the served Milvus collection")
    dimension: int | None = Field(description="length of a query vector")
    plans: list[PlanOut]
    your_plan: str


class UsageRow(BaseModel):
    """Answered queries of one UTC day on one endpoint (all the organisation's keys together)."""

    day: date
    endpoint: str
    count: int


class UsageOut(BaseModel):
    """The calling organisation's usage."""

    org_id: str
    since: date
    until: date
    total: int
    rows: list[UsageRow]


class ApiKeyOut(BaseModel):
    """An API key as lists show it: never the secret."""

    id: str
    org_id: str
    prefix: str
    name: str
    plan: str
    scopes: list[str]
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new key: `key` is shown this once and is not stored (only its hash is)."""

    key: str
