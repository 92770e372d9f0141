"""SQL for badges and the activity counts their rules read."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from api.db.models import Follow, Genre, Playlist, PlaylistLike, PlaylistTrack, Track, Upload, UserBadge


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

    def award(self, user_id: str, badge: str) -> None:
        """Record a badge (the caller checked it is new)."""
        with self.session.begin_nested():
            self.session.add(UserBadge(user_id=user_id, badge=badge))

    def playlists(self, user_id: str, public_only: bool = False) -> int:
        """How many playlists the user owns (public ones only, if asked)."""
        stmt = select(func.count()).select_from(Playlist).where(Playlist.owner_id == user_id)
        if public_only:
            stmt = stmt.where(Playlist.visibility == "public")
        return int(self.session.scalar(stmt) or 0)

    def uploads(self, user_id: str) -> int:
        """How many of their own tracks the user has uploaded (and kept)."""
        return int(self.session.scalar(select(func.count()).select_from(Upload).where(Upload.owner_id == user_id)) or 0)

    def likes_received(self, user_id: str) -> int:
        """Likes on the user's playlists by other people."""
        stmt = (
            select(func.count())
            .select_from(PlaylistLike)
            .join(Playlist, Playlist.id == PlaylistLike.playlist_id)
            .where(Playlist.owner_id == user_id, PlaylistLike.user_id != user_id)
        )
        return int(self.session.scalar(stmt) or 0)

    def following(self, user_id: str) -> int:
        """How many users this user follows."""
        return int(
            self.session.scalar(select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)) or 0
        )

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

    def distinct_genres(self, user_id: str) -> int:
        """Distinct top-level genres among the user's playlists' tracks."""
        stmt = (
            select(func.count(distinct(Track.genre_top)))
            .select_from(PlaylistTrack)
            .join(Playlist, Playlist.id == PlaylistTrack.playlist_id)
            .join(Track, Track.track_id == PlaylistTrack.track_id)
            .where(Playlist.owner_id == user_id, Track.genre_top.is_not(None))
        )
        return int(self.session.scalar(stmt) or 0)

    def top_level_genres(self) -> list[tuple[int, str]]:
        """(genre_id, title) of the catalog's root genres, by id."""
        return [
            (int(i), str(t))
            for i, t in self.session.execute(
                select(Genre.genre_id, Genre.title).where(Genre.parent == 0).order_by(Genre.genre_id)
            )
        ]
