"""Request and response bodies of the B2B `/v1` API (the recommendation options are the listener playlists')."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from api.common import distinct_track_ids
from api.playlists.schemas import RecommendationOptions
from api.tracks.schemas import TextSearchOut, TrackBrief
from api.tracks.text_search import MAX_PROMPT_CHARS

#: the longest raw query vector accepted: above every encoder served here (MuQ-large 1024, MuQ-MuLan 512, MusiCNN's
#: widest hidden state 1506); a longer one is refused by the schema before it is read into a query
MAX_VECTOR_DIMENSION = 2048

_QUERY_EXAMPLE: dict[str, JsonValue] = {
    "seed_track_ids": [2, 5],
    "count": 10,
    "mood_style": "dreamy",
    "max_per_artist": 1,
    "commercial_use": True,
}


class QueryOptions(RecommendationOptions):
    """The number of results and the listener playlists' filters and options of one query (alone, the `options`
    part of an audio-seeded request)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"count": 10, "mood_style": "dreamy"}]})

    count: int = Field(default=20, ge=1, le=100, description="results wanted (1..100; capped by the plan)")
    commercial_use: bool = Field(
        default=False,
        description="only tracks whose FMA licence allows commercial use (a known Creative Commons licence "
        "without NonCommercial, or CC0 / public domain); see docs/B2B.md for the rule and its limits",
    )


class RecommendationRequest(QueryOptions):
    """Seeds (1..10 library track ids, or one raw vector of the served dimension), the number of results and the
    listener playlists' filters and options."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_QUERY_EXAMPLE, {"vector": [0.1, -0.2, 0.05], "count": 5, "genre": "Rock"}]}
    )

    seed_track_ids: list[int] = Field(
        default_factory=list, max_length=10, description="library track ids (1..10); or give `vector`"
    )
    vector: list[float] | None = Field(
        default=None,
        max_length=MAX_VECTOR_DIMENSION,
        description="a raw query vector of the served dimension (see /v1/meta), instead of seeds",
    )

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
    dropped: dict[str, int] = Field(
        default_factory=dict,
        description="candidates each playlist rule dropped (seed, excluded, blocked_artist, blocked_track, "
        "alternate_version, near_duplicate, max_per_artist, ..., and not_commercial under commercial_use), so a "
        "short answer explains itself",
    )


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
    upload_units: int = Field(description="rate units and quota queries one audio-seeded request costs")


class MetaOut(BaseModel):
    """What serves the API now."""

    api_version: str = "v1"
    catalog_size: int = Field(description="tracks in the catalog")
    indexed_tracks: int = Field(description="tracks in the served index")
    encoder_id: str | None
    weights_licence: str | None = Field(
        description="the licence of the served encoder's weights, as the encoder states it (MuQ and MuQ-MuLan: "
        "CC BY-NC 4.0); null when this process does not load the encoder the index was built with"
    )
    vector_set_id: str | None
    index_version: str | None = Field(description="the served Milvus collection")
    dimension: int | None = Field(description="length of a query vector")
    plans: list[PlanOut]
    your_plan: str
    text_search: bool = Field(
        default=False,
        description="whether `POST /v1/recommendations/text` can answer here (a MuQ-MuLan text tower and MuLan "
        "audio vectors are loaded); false: it answers 501 text_search_unavailable",
    )


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


# -- trend reports -------------------------------------------------------------------------------------------------

TrendAxis = Literal["genre", "mood"]
TrendSource = Literal["created", "liked"]


class TagShare(BaseModel):
    """One label's part of a week: playlists (or likes) carrying it and their share of the week's total."""

    value: str | None = Field(description="the label; null: the playlist's seeds share no label on this axis")
    count: int
    share: float = Field(ge=0.0, le=1.0)


class WeekShares(BaseModel):
    """One ISO week: how many playlists were created (or likes given) and their genre and mood shares."""

    week: str = Field(description='ISO week, e.g. "2026-W48"', examples=["2026-W48"])
    starts: date = Field(description="its Monday (UTC)")
    total: int = Field(description="every playlist created (like given) in the week, listed rows or not")
    genre: list[TagShare] = Field(
        description="largest first; only labels of at least `trend_min_listeners` distinct listeners (default 5)"
    )
    mood: list[TagShare] = Field(
        description="largest first; only labels of at least `trend_min_listeners` distinct listeners (default 5)"
    )


class TagMove(BaseModel):
    """How one label's share changed from the week before to the latest week of the range."""

    axis: TrendAxis
    value: str
    share_before: float
    share_now: float
    change: float = Field(description="share_now - share_before (share points, -1..1)")


class Movers(BaseModel):
    """The labels whose share rose and fell most from `from_week` to `to_week`."""

    from_week: str
    to_week: str
    rising: list[TagMove] = Field(description="largest rise first (change > 0)")
    falling: list[TagMove] = Field(description="largest fall first (change < 0)")


class SeedTrackUse(TrackBrief):
    """A library track and how many playlists of the range it seeded."""

    playlists: int


_TRENDS_EXAMPLE: dict[str, JsonValue] = {
    "since": "2026-11-23",
    "until": "2026-12-06",
    "weeks": 2,
    "created": [
        {
            "week": "2026-W48",
            "starts": "2026-11-23",
            "total": 40,
            "genre": [{"value": "Rock", "count": 30, "share": 0.75}, {"value": "Folk", "count": 10, "share": 0.25}],
            "mood": [{"value": "driving", "count": 30, "share": 0.75}, {"value": None, "count": 10, "share": 0.25}],
        },
        {
            "week": "2026-W49",
            "starts": "2026-11-30",
            "total": 20,
            "genre": [{"value": "Folk", "count": 20, "share": 1.0}],
            "mood": [{"value": "dreamy", "count": 20, "share": 1.0}],
        },
    ],
    "liked": [
        {"week": "2026-W48", "starts": "2026-11-23", "total": 0, "genre": [], "mood": []},
        {
            "week": "2026-W49",
            "starts": "2026-11-30",
            "total": 10,
            "genre": [{"value": "Rock", "count": 10, "share": 1.0}],
            "mood": [{"value": "driving", "count": 10, "share": 1.0}],
        },
    ],
    "movers": {
        "created": {
            "from_week": "2026-W48",
            "to_week": "2026-W49",
            "rising": [
                {"axis": "mood", "value": "dreamy", "share_before": 0.0, "share_now": 1.0, "change": 1.0},
                {"axis": "genre", "value": "Folk", "share_before": 0.25, "share_now": 1.0, "change": 0.75},
            ],
            "falling": [
                {"axis": "genre", "value": "Rock", "share_before": 0.75, "share_now": 0.0, "change": -0.75},
                {"axis": "mood", "value": "driving", "share_before": 0.75, "share_now": 0.0, "change": -0.75},
            ],
        },
        "liked": {
            "from_week": "2026-W48",
            "to_week": "2026-W49",
            "rising": [
                {"axis": "genre", "value": "Rock", "share_before": 0.0, "share_now": 1.0, "change": 1.0},
                {"axis": "mood", "value": "driving", "share_before": 0.0, "share_now": 1.0, "change": 1.0},
            ],
            "falling": [],
        },
    },
    "top_seed_tracks": [
        {
            "track_id": 2,
            "title": "Food",
            "artist_id": 1,
            "artist": "AWOL",
            "album": "AWOL - A Way Of Life",
            "genre_top": "Hip-Hop",
            "duration_seconds": 168.0,
            "playlists": 12,
        }
    ],
}


class TrendsOut(BaseModel):
    """What listeners created and liked, week by week: genre and mood shares, the movers, the top seeds."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TRENDS_EXAMPLE]})

    since: date = Field(description="Monday of the first week")
    until: date = Field(description="Sunday of the last week")
    weeks: int
    created: list[WeekShares] = Field(description="playlists created, per week of creation (every week of the range)")
    liked: list[WeekShares] = Field(description="likes given, per week of the like, by the liked playlist's labels")
    movers: dict[TrendSource, Movers]
    top_seed_tracks: list[SeedTrackUse] = Field(
        description="most used seeds of the playlists created in the range, each used by at least "
        "`trend_min_listeners` distinct listeners (default 5)"
    )


class TextRecommendationRequest(BaseModel):
    """A text prompt for the MuQ-MuLan text tower and the number of tracks wanted."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "calm acoustic guitar at night", "count": 10}]}
    )

    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="what the music should sound like")
    count: int = Field(default=20, ge=1, le=100, description="results wanted (1..100; capped by the plan)")


class TextRecommendationsOut(TextSearchOut):
    """The tracks nearest a text prompt, as the listener text search ranks them."""

    capped_by_plan: bool = Field(description="true when `count` was lowered to the plan's max results")
