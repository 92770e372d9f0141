"""Request and response bodies of the playlist endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.common import HEX_ID_PATTERN, MAX_TRACK_ID, PageOut, distinct_track_ids
from api.tracks.schemas import TrackBrief
from discovery.options import DiscoveryOptions

MoodStyle = Literal["dreamy", "driving", "playful", "somber"]
Energy = Literal["high", "medium", "low"]
Valence = Literal["positive", "negative"]
Source = Literal["acoustic", "electronic"]
#: a library track id in a body: bounded like the column (a larger one is a 422, never a database overflow)
LibraryTrackId = Annotated[int, Field(ge=1, le=MAX_TRACK_ID)]


class RecommendationOptions(DiscoveryOptions):
    """The filters and options of a recommendation, shared by the listener playlists, the web page and the B2B
    `/v1` API: the index's filters here, the discovery engine's rules (blend, dial, policy, flow) inherited."""

    genre: str | None = Field(default=None, min_length=1, max_length=64, description="top-level genre filter")
    mood_style: MoodStyle | None = Field(default=None, description="mood filter")
    energy: Energy | None = Field(default=None, description="energy filter")
    valence: Valence | None = Field(default=None, description="valence filter")
    source: Source | None = Field(default=None, description="instrumentation filter")


class PlaylistCreate(RecommendationOptions):
    """A playlist request: 1..10 library seed tracks (their vectors are averaged) or one of your uploads, plus
    size, filters, diversity and discovery options."""

    seed_track_ids: list[LibraryTrackId] = Field(
        default_factory=list,
        max_length=10,
        description="library track ids (1..10); or give seed_upload_id",
        json_schema_extra={"uniqueItems": True},
    )
    seed_upload_id: str | None = Field(
        default=None, pattern=HEX_ID_PATTERN, description="one of your uploads, instead of seed_track_ids"
    )
    size: int = Field(default=20, ge=5, le=100, description="number of tracks in the playlist (5..100)")
    title: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("seed_track_ids")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        return distinct_track_ids(v)

    @model_validator(mode="after")
    def _one_seed_kind(self) -> PlaylistCreate:
        if bool(self.seed_track_ids) == bool(self.seed_upload_id):
            raise ValueError("give either seed_track_ids (1..10 library tracks) or seed_upload_id, not both or none")
        return self


class PlaylistEntry(TrackBrief):
    """A playlist position: the track and its similarity to the seed(s)."""

    position: int
    score: float = Field(description="cosine similarity between the track and the (mean) seed vector")
    why: str | None = Field(default=None, description="what the track shares with the seed (genre and tags)")
    kept: bool = Field(default=False, description="the owner's keep mark: a refresh leaves this track in place")


Visibility = Literal["private", "public"]


class PlaylistUpdate(BaseModel):
    """Owner edits: rename, publish/unpublish (omitted fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    visibility: Visibility | None = None


class PlaylistOrder(BaseModel):
    """The playlist's tracks in their new order; leaving a track out removes it (no new tracks)."""

    model_config = ConfigDict(extra="forbid")

    track_ids: list[LibraryTrackId] = Field(max_length=100, json_schema_extra={"uniqueItems": True})

    @field_validator("track_ids")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("track_ids must not repeat a track")
        return v


class PlaylistSummary(BaseModel):
    """A playlist in lists."""

    id: str
    title: str
    owner_id: str | None
    visibility: str
    created_at: datetime
    updated_at: datetime
    n_tracks: int
    likes: int = 0


class PlaylistOut(BaseModel):
    """A stored playlist."""

    id: str
    title: str
    owner_id: str | None
    created_at: datetime
    updated_at: datetime
    visibility: str
    seed_tracks: list[TrackBrief]
    seed_upload_id: str | None = None
    recipe: dict[str, Any]
    tracks: list[PlaylistEntry]
    forked_from: str | None = Field(
        default=None, description="the id of the public playlist this one was forked from (recipe and all)"
    )


class PlaylistFork(BaseModel):
    """A fork's title (default: the source's title)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)


class BlockedArtist(BaseModel):
    """An artist on a blocklist."""

    artist_id: int
    name: str
    blocked_at: datetime


class BlockedTrack(TrackBrief):
    """A track on a blocklist."""

    blocked_at: datetime


class BlocklistOut(BaseModel):
    """A listener's or an organisation's blocklist: none of these artists and tracks is ever recommended to them
    (each one a playlist would have held is counted in the recipe's `dropped` as `blocked_artist` or
    `blocked_track`)."""

    artists: list[BlockedArtist]
    tracks: list[BlockedTrack]


class HeardTrackOut(TrackBrief):
    """A track the listener marked heard."""

    heard_at: datetime


class HeardPage(PageOut[HeardTrackOut]):
    """A page of the tracks the listener marked heard, newest first."""
