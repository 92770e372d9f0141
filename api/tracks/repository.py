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
        self, terms: Sequence[str], genre: str | None, limit: int, offset: int, count_cap: int | None = None
    ) -> tuple[list[Track], int, list[tuple[str | None, int]], bool, int | None]:
        """A page of tracks matching every term and the genre, the total, the genre counts of the text matches,
        whether the total is a lower bound, and how many text matches the genre counts cover when they stop
        short (None: all of them). With terms: exact title matches first, then titles and artists starting with
        the query, then by id; without: by id.

        With terms and a `count_cap`, the counts cover the first `count_cap` text matches the scan meets (by
        track id on SQLite), and a capped search reads its page tier by tier (titles equal to or
        starting with the query, artists starting with it, the rest by id), each query bounded by the page, so
        a common word never counts or ranks every match. Without terms the counts are exact."""
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        matched = _matching(terms)
        if sqlite:
            # the same test as the LIKEs (search_text and the terms are lower-cased by Python, SQLite's LIKE
            # folds ASCII only), in half the time of a LIKE on a scan: SQLite has no index for it
            matched = [func.instr(Track.search_text, term.lower()) > 0 for term in terms]
        in_genre = [Track.genre_top == genre] if genre else []
        phrase = " ".join(terms).lower()
        title = func.lower(Track.title)
        rank = case(
            (title == phrase, 0),
            (title.startswith(phrase, autoescape=True), 1),
            (func.lower(Artist.name).startswith(phrase, autoescape=True), 2),
            else_=3,
        )

        def page_of(ids: Sequence[int] | None) -> list[Track]:
            # the ranked page among `ids` (None: among every match)
            stmt = select(Track).join(Artist, Artist.artist_id == Track.artist_id).options(joinedload(Track.artist))
            stmt = stmt.where(*matched, *in_genre) if ids is None else stmt.where(Track.track_id.in_(list(ids)))
            stmt = stmt.order_by(rank, Track.track_id) if terms else stmt.order_by(Track.track_id)
            return list(self.session.scalars(stmt.limit(limit).offset(offset)))

        if not terms or count_cap is None:
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
            return (page_of(None) if total > offset else []), total, facets, False, None

        # the first `count_cap` matches the scan meets: on SQLite a table scan in track id order, on PostgreSQL
        # the planner's choice (no ORDER BY: a misestimated rare word must not become an id scan of the table)
        first = select(Track.track_id, Track.genre_top).where(*matched).limit(count_cap + 1)
        hits = list(self.session.execute(first.order_by(Track.track_id) if sqlite else first))
        capped = len(hits) > count_cap
        hits = hits[:count_cap]
        counts: dict[str | None, int] = {}
        for _, g in hits:
            counts[g] = counts.get(g, 0) + 1
        # the order of `ORDER BY count DESC, genre_top`: NULL sorts first on SQLite, last on PostgreSQL
        facets = sorted(counts.items(), key=lambda x: (-x[1], (x[0] is None) != sqlite, x[0] or ""))
        if not capped:
            ids = [t for t, g in hits if genre is None or g == genre]
            return (page_of(ids) if len(ids) > offset else []), len(ids), facets, False, None
        total, lower_bound = count_cap, True
        if genre is not None:
            n = int(
                self.session.scalar(
                    select(func.count()).select_from(
                        select(Track.track_id).where(*matched, *in_genre).limit(count_cap + 1).subquery()
                    )
                )
                or 0
            )
            total, lower_bound = min(n, count_cap), n > count_cap
        # the page, tier by tier: each query reads at most offset + limit ids, the last one stops at its page
        title_prefix = title.startswith(phrase, autoescape=True)
        exact = title == phrase
        # the title tier: on PostgreSQL an index on lower(title) serves it; on SQLite (whose lower() is a Python
        # function) a title starting with the phrase means a search text starting with it, a range in code
        # point order (UTF-8 bytes) that narrows the rows SQLite lowers
        if sqlite:
            from sqlalchemy import and_

            bounds = [Track.search_text >= phrase]
            last = ord(phrase[-1]) + 1  # the least string above all that start with the phrase, if any
            if last <= 0x10FFFF:
                bounds.append(Track.search_text < phrase[:-1] + chr(0xE000 if 0xD800 <= last <= 0xDFFF else last))
            title_prefix = and_(*bounds, title_prefix)
            # a title equal to the phrase: the search text is the phrase, or the phrase and a space ("!" follows
            # " " in code point order), a short range on the index
            exact = and_(Track.search_text >= phrase, Track.search_text < phrase + "!", exact)
        artist_prefix = Track.artist_id.in_(
            select(Artist.artist_id).where(func.lower(Artist.name).startswith(phrase, autoescape=True))
        )
        where = [*matched, *in_genre]
        tiers = [
            select(Track.track_id).where(*where, title_prefix, exact),
            select(Track.track_id).where(*where, title_prefix, ~exact),
            select(Track.track_id).where(*where, artist_prefix, ~title_prefix),
        ]
        page_ids: list[int] = []
        skip = offset
        for stmt in tiers:
            got = list(self.session.scalars(stmt.order_by(Track.track_id).limit(skip + limit - len(page_ids))))
            page_ids += got[skip:]
            skip = max(0, skip - len(got))
            if len(page_ids) >= limit:
                break
        else:
            rest = select(Track.track_id).where(*where, ~title_prefix, ~artist_prefix).order_by(Track.track_id)
            page_ids += self.session.scalars(rest.limit(limit - len(page_ids)).offset(skip))
        found = self.by_ids(page_ids)
        return [found[t] for t in page_ids if t in found], total, facets, lower_bound, count_cap

    def genres(self, genre_ids: Sequence[int]) -> list[Genre]:
        """The genres with these ids, in the given order (unknown ids skipped)."""
        found = {g.genre_id: g for g in self.session.scalars(select(Genre).where(Genre.genre_id.in_(genre_ids)))}
        return [found[g] for g in genre_ids if g in found]

    def by_ids(self, track_ids: Sequence[int]) -> dict[int, Track]:
        """Tracks (with artists) for `track_ids`; unknown ids are absent."""
        if not track_ids:
            return {}
        rows = self.session.scalars(
            select(Track).options(joinedload(Track.artist)).where(Track.track_id.in_(list(track_ids)))
        )
        return {t.track_id: t for t in rows}
