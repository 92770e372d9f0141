"""Response bodies of the upload endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.tracks.schemas import TrackBrief


class TagVote(BaseModel):
    """The label most of the upload's nearest library tracks carry, and the share of them that carry it."""

    value: str
    share: float = Field(ge=0.0, le=1.0)


class UploadAnalysis(BaseModel):
    """What the upload sounds like, voted by its nearest library tracks in the encoder's space."""

    method: str = Field(description='"neighbour vote": majority label among the nearest library tracks')
    neighbours: int
    tags: dict[str, TagVote] = Field(description="genre_top, mood_style, energy, valence, source (those known)")


class UploadOut(BaseModel):
    """A stored upload ("my track")."""

    id: str
    filename: str
    size_bytes: int
    duration_seconds: float
    encoder_id: str
    created_at: datetime
    analysis: UploadAnalysis | None = Field(
        default=None, description="genre and tags voted by the nearest library tracks (null: no index was served)"
    )


class PassageOut(BaseModel):
    """Where the demo and a library track match: a span of each (seconds) and the mean window similarity."""

    demo_start: float
    demo_end: float
    track_start: float
    track_end: float
    similarity: float = Field(description="mean cosine of the aligned window pairs of the passage")


class ReferenceOut(BaseModel):
    """A library track close to the demo, with its best-matching passage."""

    track: TrackBrief
    similarity: float = Field(description="cosine of the best-matching window pair")
    near_copy: bool = Field(description="a passage of the demo is a near-copy of this recording")
    passage: PassageOut


class ReferencesOut(BaseModel):
    """The reference finder's answer for one upload."""

    upload_id: str
    encoder_id: str
    window_seconds: float = Field(description="windows of the library's segment length ...")
    hop_seconds: float = Field(description="... every this many seconds in the library tracks ...")
    demo_hop_seconds: float = Field(description="... and every this many in the demo")
    near_copy_threshold: float = Field(description="window cosine at or above which a passage is a near-copy")
    shortlisted: int = Field(description="library tracks compared passage by passage")
    unavailable_track_ids: list[int] = Field(description="shortlisted tracks whose audio is absent or unusable")
    references: list[ReferenceOut] = Field(description="most similar first")


class WindowPairOut(BaseModel):
    """The best-matching pair of windows: a span of the upload and a span of the library track (seconds)."""

    upload_start: float
    upload_end: float
    track_start: float
    track_end: float


class MatchOut(BaseModel):
    """A library recording the upload may be taken from, and where."""

    track: TrackBrief
    similarity: float = Field(description="cosine of the best-matching window pair (what the ranking uses)")
    near_copy: bool = Field(description="the best pair is at or above the near-copy threshold")
    windows_matched: int = Field(description="searched upload windows that found a window of this track")
    best: WindowPairOut


class MatchesOut(BaseModel):
    """The answer to "which library recording is this?" for one upload, from the window index."""

    upload_id: str
    encoder_id: str
    collection: str = Field(description="the window collection searched (one per encoder and window policy)")
    window_seconds: float = Field(description="windows of the library's segment length ...")
    hop_seconds: float = Field(description="... every this many seconds in the library tracks")
    upload_windows_searched: int = Field(description="upload windows searched, spread evenly over the upload")
    near_copy_threshold: float = Field(description="window cosine at or above which a match is a near-copy")
    unavailable_track_ids: list[int] = Field(description="tracks found in the index but no longer in the catalog")
    matches: list[MatchOut] = Field(description="most similar first (best window pair per track)")
