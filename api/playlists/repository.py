"""SQL for playlists and the catalog rows they join."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from api.db.models import Playlist, PlaylistTrack, Track


class PlaylistRepository:
    """The only place that touches the playlist tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tracks_by_id(self, track_ids: Sequence[int]) -> dict[int, Track]:
        """Tracks (with artists) for `track_ids`; unknown ids are absent."""
        if not track_ids:
            return {}
        rows = self.session.scalars(
            select(Track).options(joinedload(Track.artist)).where(Track.track_id.in_(list(track_ids)))
        )
        return {t.track_id: t for t in rows}

    def add(self, playlist: Playlist) -> Playlist:
        """Stage a new playlist (with its entries) in the request's transaction."""
        self.session.add(playlist)
        self.session.flush()
        return playlist

    def get(self, playlist_id: str) -> Playlist | None:
        """A playlist with its entries, tracks and artists loaded (fresh from the DB)."""
        return self.session.scalars(
            select(Playlist)
            .execution_options(populate_existing=True)
            .where(Playlist.id == playlist_id)
            .options(selectinload(Playlist.entries).joinedload(PlaylistTrack.track).joinedload(Track.artist))
        ).one_or_none()

    def delete(self, playlist: Playlist) -> None:
        """Delete a playlist and its entries."""
        self.session.delete(playlist)
        self.session.flush()

    def owned_by(self, owner_id: str, limit: int, offset: int) -> list[tuple[Playlist, int]]:
        """A user's playlists, newest first, with their track counts."""
        counts = (
            select(PlaylistTrack.playlist_id, func.count().label("n")).group_by(PlaylistTrack.playlist_id).subquery()
        )
        rows = self.session.execute(
            select(Playlist, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.playlist_id == Playlist.id)
            .where(Playlist.owner_id == owner_id)
            .order_by(Playlist.created_at.desc(), Playlist.id)
            .limit(limit)
            .offset(offset)
        )
        return [(p, int(n)) for p, n in rows]

    def replace_entries(self, playlist: Playlist, entries: Sequence[tuple[int, float, str | None]]) -> None:
        """Replace the playlist's positions with `entries` (track id, score, why) in order."""
        for old in list(playlist.entries):
            self.session.expunge(old)
        # delete first: the new rows reuse the (playlist_id, position) keys
        self.session.execute(delete(PlaylistTrack).where(PlaylistTrack.playlist_id == playlist.id))
        self.session.add_all(
            PlaylistTrack(playlist_id=playlist.id, position=i, track_id=t, score=sc, why=why)
            for i, (t, sc, why) in enumerate(entries)
        )
        self.session.flush()
