"""SQL for playlists and the catalog rows they join."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
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
        """A playlist with its entries, tracks and artists loaded."""
        return self.session.scalars(
            select(Playlist)
            .where(Playlist.id == playlist_id)
            .options(selectinload(Playlist.entries).joinedload(PlaylistTrack.track).joinedload(Track.artist))
        ).one_or_none()
