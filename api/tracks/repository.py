"""SQL for library tracks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, joinedload

from api.db.models import Artist, Genre, Track


def _matching(terms: Sequence[str]) -> list[ColumnElement[bool]]:
    """Every term occurs (case-insensitive) in the title, the artist or the album: one LIKE per term on the
    precomputed `search_text`, which a pg_trgm GIN index serves on PostgreSQL (terms of 3+ characters)."""
    return [Track.search_text.contains(term.lower(), autoescape=True) for term in terms]


class TrackRepository:
    """Reads the catalog tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, track_id: int) -> Track | None:
        """One track with its artist."""
        return self.session.scalars(
            select(Track).options(joinedload(Track.artist)).where(Track.track_id == track_id)
        ).one_or_none()

    def search(
        self, terms: Sequence[str], genre: str | None, limit: int, offset: int
    ) -> tuple[list[Track], int, list[tuple[str | None, int]]]:
        """A page of tracks matching every term and the genre, the total, and the genre counts of the text
        matches. With terms: exact title matches first, then titles and artists starting with the query,
        then by id; without: by id."""
        matched = _matching(terms)
        facets = [
            (g, int(n))
            for g, n in self.session.execute(
                select(Track.genre_top, func.count())
                .where(*matched)
                .group_by(Track.genre_top)
                .order_by(func.count().desc(), Track.genre_top)
            )
        ]
        # the facets partition the text matches by genre, so they also give the total: no third query
        total = sum(n for g, n in facets if genre is None or g == genre)
        where = [*matched, Track.genre_top == genre] if genre else matched
        stmt = select(Track).join(Artist, Artist.artist_id == Track.artist_id).options(joinedload(Track.artist))
        if terms:
            phrase = " ".join(terms).lower()
            title = func.lower(Track.title)
            rank = case(
                (title == phrase, 0),
                (title.startswith(phrase, autoescape=True), 1),
                (func.lower(Artist.name).startswith(phrase, autoescape=True), 2),
                else_=3,
            )
            stmt = stmt.order_by(rank, Track.track_id)
        else:
            stmt = stmt.order_by(Track.track_id)
        rows = list(self.session.scalars(stmt.where(*where).limit(limit).offset(offset))) if total > offset else []
        return rows, total, facets

    def genres(self, genre_ids: Sequence[int]) -> list[Genre]:
        """The genres with these ids, in the given order (unknown ids skipped)."""
        found = {g.genre_id: g for g in self.session.scalars(select(Genre).where(Genre.genre_id.in_(genre_ids)))}
        return [found[g] for g in genre_ids if g in found]
