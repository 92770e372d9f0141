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
    total_is_lower_bound: bool = Field(
        default=False,
        description="true when more tracks match than were counted: `total` is then a lower bound (a text query "
        "counts at most `facets_counted_up_to` matches)",
    )
    facets_counted_up_to: int | None = Field(
        default=None,
        description="null: the facet counts cover every text match; a number: more text matches exist, and the "
        "facets count only this many of them, the first the database met (each count a lower bound)",
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


class PathTrack(TrackBrief):
    """One track of a sonic path, with how it sits between the two ends."""

    position: int
    similarity_to_start: float = Field(description="cosine similarity with the path's first track")
    similarity_to_end: float = Field(description="cosine similarity with the path's last track")
    similarity_to_previous: float | None = Field(description="cosine similarity with the track before (null first)")


class SonicPathOut(BaseModel):
    """A path from one library track to another: both ends included, each step the library track nearest the next
    point on the great circle between the two (`discovery.flow.sonic_path`)."""

    from_track_id: int
    to_track_id: int
    steps: int = Field(description="tracks in the path, both ends included")
    capped_by_plan: bool = Field(default=False, description="true when `steps` was lowered to the plan's max results")
    encoder_id: str | None
    index_version: str | None = Field(description="the served collection that answered")
    candidates: int = Field(description="library tracks the path was chosen from (searched around the path's points)")
    tracks: list[PathTrack]


class TextMatch(TrackBrief):
    """A library track that matches a text prompt."""

    rank: int
    score: float = Field(
        description="cosine similarity of the track's MuLan audio vector with the prompt's text vector"
    )


class TextSearchOut(BaseModel):
    """Library tracks ranked by the MuQ-MuLan text tower against the library's MuLan audio vectors."""

    query: str
    encoder_id: str = Field(description="the MuQ-MuLan whose text tower embedded the prompt")
    vector_set_id: str = Field(description="the MuLan audio vector set searched")
    count: int
    results: list[TextMatch]


class TagDifference(BaseModel):
    """One tag axis where the two tracks differ: each one's label."""

    track: str
    other: str


class SegmentPairOut(BaseModel):
    """A window of the track and the window of the other track that sounds most like it (seconds in each)."""

    track_start: float
    track_end: float
    other_start: float
    other_end: float
    similarity: float = Field(description="cosine of the two windows' vectors")


class TrackComparisonOut(BaseModel):
    """Why, and where: how a track (a playlist's seed) and another (a result) relate."""

    track: TrackBrief
    other: TrackBrief
    similarity: float | None = Field(description="cosine of the pooled vectors (null: a track is not in the index)")
    shared_tags: dict[str, str] = Field(description="tag axis -> the label both carry")
    differing_tags: dict[str, TagDifference] = Field(description="tag axis -> each track's label")
    why: list[str] = Field(description="the shared tags in words")
    window_seconds: float = Field(description="windows of the library's segment length ...")
    hop_seconds: float = Field(description="... every this many seconds")
    segments: list[SegmentPairOut] = Field(description="best-matching window pairs, most similar first")
