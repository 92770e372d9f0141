"""SQL for library tracks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from api.db.models import Track


class TrackRepository:
    """Reads the catalog tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, track_id: int) -> Track | None:
        """One track with its artist."""
        return self.session.scalars(
            select(Track).options(joinedload(Track.artist)).where(Track.track_id == track_id)
        ).one_or_none()

    def list(self, genre: str | None, limit: int, offset: int) -> list[Track]:
        """A page of tracks ordered by id."""
        stmt = select(Track).options(joinedload(Track.artist)).order_by(Track.track_id)
        if genre:
            stmt = stmt.where(Track.genre_top == genre)
        return list(self.session.scalars(stmt.limit(limit).offset(offset)))
