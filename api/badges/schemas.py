"""Response bodies of the badge and genre-mix endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Badge(BaseModel):
    """An earned badge."""

    badge: str
    title: str
    description: str
    awarded_at: datetime


class GenreShare(BaseModel):
    """One slice of the genre pie chart."""

    genre_id: int
    genre: str
    tracks: int
    share: float
