"""SQL for badges and the activity counts their rules read."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlalchemy import Select, String, bindparam, case, distinct, exists, func, null, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from api.db.models import Follow, Genre, Playlist, PlaylistLike, PlaylistTrack, Track, Upload, UserBadge
from api.db.session import insert_once

#: the user every activity count is about, bound at execution: the statements are built once and reused
USER = bindparam("user_id", type_=String)
#: a user id or the bound `USER` parameter
UserRef = str | ColumnElement[str]


class BadgeRepository:
    """Reads activity, writes awards."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def awarded(self, user_id: str) -> list[UserBadge]:
        """Badges of a user, oldest first."""
        return list(
            self.session.scalars(
                select(UserBadge).where(UserBadge.user_id == user_id).order_by(UserBadge.awarded_at, UserBadge.badge)
            )
        )

    def award(self, user_id: str, badge: str) -> bool:
        """Record a badge; False when it is already held (two requests evaluating one user's badges at once both
        find it new: one inserts it, the other loses on the primary key instead of failing its request)."""
        return insert_once(self.session, UserBadge(user_id=user_id, badge=badge))  # `progress` read it missing

    # -- the activity counts badge rules read; `progress` reads them all in one round trip --

    @staticmethod
    def _playlists(user_id: UserRef, public_only: bool = False) -> Select[Any]:
        stmt = select(func.count()).select_from(Playlist).where(Playlist.owner_id == user_id)
        if public_only:
            stmt = stmt.where(Playlist.visibility == "public")
        return stmt

    @staticmethod
    def _uploads(user_id: UserRef) -> Select[Any]:
        return select(func.count()).select_from(Upload).where(Upload.owner_id == user_id)

    @staticmethod
    def _likes_received(user_id: UserRef) -> Select[Any]:
        return (
            select(func.count())
            .select_from(PlaylistLike)
            .join(Playlist, Playlist.id == PlaylistLike.playlist_id)
            .where(Playlist.owner_id == user_id, PlaylistLike.user_id != user_id)
        )

    @staticmethod
    def _following(user_id: UserRef) -> Select[Any]:
        return select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)

    @staticmethod
    def _distinct_genres(user_id: UserRef) -> Select[Any]:
        return (
            select(func.count(distinct(Track.genre_top)))
            .select_from(PlaylistTrack)
            .join(Playlist, Playlist.id == PlaylistTrack.playlist_id)
            .join(Track, Track.track_id == PlaylistTrack.track_id)
            .where(Playlist.owner_id == user_id, Track.genre_top.is_not(None))
        )

    #: every activity count by name: what the badge rules' `measure` names
    MEASURES: ClassVar[dict[str, Callable[[UserRef], Select[Any]]]] = {
        "playlists": _playlists,
        "public_playlists": lambda u: BadgeRepository._playlists(u, public_only=True),
        "uploads": _uploads,
        "likes_received": _likes_received,
        "following": _following,
        "distinct_genres": _distinct_genres,
    }

    def progress(self, user_id: str, measure_of: Mapping[str, str]) -> dict[str, int | None]:
        """For each badge of `measure_of` (badge -> measure): None when the user holds it, else the activity count
        its rule reads; in one statement (a held badge's count is not computed)."""
        if not measure_of:
            return {}
        names = list(measure_of)
        row = self.session.execute(_progress_statement(tuple(measure_of.items())), {"user_id": user_id}).one()
        return {n: None if v is None else int(v) for n, v in zip(names, row, strict=True)}

    def genre_counts(self, user_id: str, public_only: bool) -> dict[str, int]:
        """Tracks per top-level genre over the user's playlists (a track counts once per playlist position)."""
        stmt = (
            select(Track.genre_top, func.count())
            .select_from(PlaylistTrack)
            .join(Playlist, Playlist.id == PlaylistTrack.playlist_id)
            .join(Track, Track.track_id == PlaylistTrack.track_id)
            .where(Playlist.owner_id == user_id, Track.genre_top.is_not(None))
            .group_by(Track.genre_top)
        )
        if public_only:
            stmt = stmt.where(Playlist.visibility == "public")
        return {str(g): int(n) for g, n in self.session.execute(stmt)}

    def top_level_genres(self) -> list[tuple[int, str]]:
        """(genre_id, title) of the catalog's root genres, by id."""
        return [
            (int(i), str(t))
            for i, t in self.session.execute(
                select(Genre.genre_id, Genre.title).where(Genre.parent == 0).order_by(Genre.genre_id)
            )
        ]


@functools.lru_cache(maxsize=32)
def _progress_statement(measure_of: tuple[tuple[str, str], ...]) -> Select[Any]:
    """`BadgeRepository.progress`'s statement for one set of (badge, measure), built once: SQLAlchemy memoises a
    statement's cache key on the object, and walking this one's dozen subqueries for a key cost ~8 ms of CPU per
    request when it was rebuilt with the user id inlined (`benchmarks.round_trips`, docs/BENCHMARKS.md)."""
    columns = []
    for name, measure in measure_of:
        held = exists().where(UserBadge.user_id == USER, UserBadge.badge == name)
        count = BadgeRepository.MEASURES[measure](USER).scalar_subquery()
        columns.append(case((held, null()), else_=func.coalesce(count, 0)).label(name))
    return select(*columns)
