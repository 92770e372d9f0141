"""Response bodies of the upload endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
