"""Response bodies of the library track endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.common import PageOut


class TrackBrief(BaseModel):
    """A library track as shown in lists."""

    track_id: int
    title: str
    artist_id: int
    artist: str
    album: str | None
    genre_top: str | None
    duration_seconds: float | None


class FacetCount(BaseModel):
    """How many matching tracks carry one value (null: tracks without a top-level genre)."""

    value: str | None
    count: int


class TrackPage(PageOut[TrackBrief]):
    """One page of a library search, with the total and the genre facet of every match."""

    total: int = Field(description="tracks matching the text query and the genre filter")
    facets: dict[str, list[FacetCount]] = Field(
        description="`genre_top`: counts over the tracks matching the text query, before the genre filter "
        "(so a client can offer the other genres), largest first"
    )


class TrackTagsOut(BaseModel):
    """A track's tags as stored in the served index."""

    mood_style: str | None
    energy: str | None
    valence: str | None
    source: str | None


class GenreRef(BaseModel):
    """A genre of the FMA tree."""

    genre_id: int
    title: str


class TrackDetail(TrackBrief):
    """A library track with its genres, tags and where to stream it."""

    genres: list[GenreRef] = Field(description="every genre the track is filed under, with their ancestors")
    license: str | None
    audio_url: str | None = Field(description="stream (HTTP Range supported); null when the audio is absent")
    embedded: bool | None = Field(description="whether the served index holds the track (null: no index served)")
    tags: TrackTagsOut | None = Field(description="null when the track is not tagged or no index is served")
