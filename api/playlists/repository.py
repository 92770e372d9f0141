"""SQL for playlists, the catalog rows they join, what a listener marked heard, and the blocklists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, literal, select, union_all, update
from sqlalchemy.orm import Session, joinedload, selectinload

from api.db.models import (
    Artist,
    HeardTrack,
    OrgBlockedArtist,
    OrgBlockedTrack,
    Playlist,
    PlaylistServedTrack,
    PlaylistTrack,
    Track,
    UserBlockedArtist,
    UserBlockedTrack,
)
from api.db.session import insert_once
from api.tracks.repository import TrackRepository

#: whose blocklist: a listener's (their playlists) or an organisation's (its `/v1` recommendations)
BlocklistOwner = Literal["user", "org"]
#: what a blocklist holds
BlockedKind = Literal["artist", "track"]
_BLOCK_TABLES: dict[BlocklistOwner, dict[BlockedKind, Any]] = {
    "user": {"artist": UserBlockedArtist, "track": UserBlockedTrack},
    "org": {"artist": OrgBlockedArtist, "track": OrgBlockedTrack},
}
_OWNER_COLUMN: dict[BlocklistOwner, str] = {"user": "user_id", "org": "org_id"}
_ITEM_COLUMN: dict[BlockedKind, str] = {"artist": "artist_id", "track": "track_id"}


class PlaylistRepository:
    """The only place that touches the playlist tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tracks_by_id(self, track_ids: Sequence[int]) -> dict[int, Track]:
        """Tracks (with artists) for `track_ids`; unknown ids are absent (the catalog's own lookup)."""
        return TrackRepository(self.session).by_ids(track_ids)

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

    def replace_entries(
        self, playlist: Playlist, entries: Sequence[tuple[int, float, str | None]], kept: Collection[int] = ()
    ) -> None:
        """Replace the playlist's positions with `entries` (track id, score, why) in order; the tracks in `kept`
        carry the owner's keep mark. Every track becomes part of what the playlist has served."""
        for old in list(playlist.entries):
            self.session.expunge(old)
        # delete first: the new rows reuse the (playlist_id, position) keys
        self.session.execute(delete(PlaylistTrack).where(PlaylistTrack.playlist_id == playlist.id))
        self.session.add_all(
            PlaylistTrack(playlist_id=playlist.id, position=i, track_id=t, score=sc, why=why, kept=t in kept)
            for i, (t, sc, why) in enumerate(entries)
        )
        self.session.flush()
        self.record_served(playlist.id, [t for t, _, _ in entries])

    def record_served(self, playlist_id: str, track_ids: Sequence[int], *, new: bool = False) -> None:
        """Remember that the playlist has served `track_ids` (already remembered ones stay as they were; `new`: the
        playlist was made in this transaction and has served nothing yet, so there is nothing to read first)."""
        known = set() if new else self.served_ids(playlist_id)
        self.session.add_all(
            PlaylistServedTrack(playlist_id=playlist_id, track_id=t) for t in dict.fromkeys(track_ids) if t not in known
        )
        self.session.flush()

    def served_ids(self, playlist_id: str) -> set[int]:
        """Every track the playlist has held, made or refreshed."""
        q = select(PlaylistServedTrack.track_id).where(PlaylistServedTrack.playlist_id == playlist_id)
        return set(self.session.scalars(q))

    def set_kept(self, playlist_id: str, track_id: int, kept: bool) -> bool:
        """Set or clear the keep mark of the playlist's position holding `track_id`; False when none holds it."""
        result = self.session.execute(
            update(PlaylistTrack)
            .where(PlaylistTrack.playlist_id == playlist_id, PlaylistTrack.track_id == track_id)
            .values(kept=kept)
            .execution_options(synchronize_session=False)
        )
        self.session.flush()
        return bool(getattr(result, "rowcount", 0))

    def mark_heard(self, user_id: str, track_id: int, heard: bool) -> None:
        """Mark (idempotent) or unmark a track as heard by `user_id`."""
        if heard:
            insert_once(self.session, HeardTrack(user_id=user_id, track_id=track_id), (user_id, track_id))
        else:
            self.session.execute(
                delete(HeardTrack).where(HeardTrack.user_id == user_id, HeardTrack.track_id == track_id)
            )
        self.session.flush()

    def heard_ids(self, user_id: str) -> set[int]:
        """Every track `user_id` marked heard."""
        return set(self.session.scalars(select(HeardTrack.track_id).where(HeardTrack.user_id == user_id)))

    def heard(self, user_id: str, limit: int, offset: int) -> tuple[list[tuple[Track, datetime]], int]:
        """A page of the tracks `user_id` marked heard, newest mark first, and how many there are."""
        total = self.session.scalar(select(func.count()).select_from(HeardTrack).where(HeardTrack.user_id == user_id))
        rows = self.session.execute(
            select(Track, HeardTrack.created_at)
            .join(HeardTrack, HeardTrack.track_id == Track.track_id)
            .options(joinedload(Track.artist))
            .where(HeardTrack.user_id == user_id)
            .order_by(HeardTrack.created_at.desc(), Track.track_id)
            .limit(limit)
            .offset(offset)
        )
        return [(t, at) for t, at in rows], int(total or 0)


class BlocklistRepository:
    """The only place that touches the blocklist tables, for one kind of owner (listeners or organisations)."""

    def __init__(self, session: Session, owner: BlocklistOwner) -> None:
        self.session = session
        self.owner = owner
        self.tables = _BLOCK_TABLES[owner]

    def artist(self, artist_id: int) -> Artist | None:
        """A catalog artist."""
        return self.session.get(Artist, artist_id)

    def track(self, track_id: int) -> Track | None:
        """A catalog track with its artist."""
        return self.session.scalars(
            select(Track).options(joinedload(Track.artist)).where(Track.track_id == track_id)
        ).one_or_none()

    def _owner(self, kind: BlockedKind) -> Any:
        return getattr(self.tables[kind], _OWNER_COLUMN[self.owner])

    def _item(self, kind: BlockedKind) -> Any:
        return getattr(self.tables[kind], _ITEM_COLUMN[kind])

    def add(self, owner_id: str, kind: BlockedKind, item_id: int) -> None:
        """Block an artist or track (idempotent)."""
        row = self.tables[kind](**{_OWNER_COLUMN[self.owner]: owner_id, _ITEM_COLUMN[kind]: item_id})
        insert_once(self.session, row, (owner_id, item_id))
        self.session.flush()

    def remove(self, owner_id: str, kind: BlockedKind, item_id: int) -> None:
        """Unblock an artist or track (idempotent)."""
        table = self.tables[kind]
        self.session.execute(delete(table).where(self._owner(kind) == owner_id, self._item(kind) == item_id))
        self.session.flush()

    def blocked_at(self, owner_id: str, kind: BlockedKind, item_id: int) -> datetime | None:
        """When the artist or track was blocked (None: it is not)."""
        row = self.session.get(self.tables[kind], (owner_id, item_id))
        return None if row is None else row.created_at

    def ids(self, owner_id: str, kind: BlockedKind) -> set[int]:
        """The blocked artist or track ids."""
        return set(self.session.scalars(select(self._item(kind)).where(self._owner(kind) == owner_id)))

    def all_ids(self, owner_id: str) -> tuple[set[int], set[int]]:
        """(blocked artist ids, blocked track ids) in one statement (every playlist and `/v1` answer reads both)."""
        both = union_all(
            *(
                select(literal(kind).label("kind"), self._item(kind).label("item")).where(self._owner(kind) == owner_id)
                for kind in ("artist", "track")
            )
        )
        found: dict[str, set[int]] = {"artist": set(), "track": set()}
        for kind, item in self.session.execute(both):
            found[kind].add(int(item))
        return found["artist"], found["track"]

    def artists(self, owner_id: str) -> list[tuple[Artist, datetime]]:
        """The blocked artists, newest block first."""
        table = self.tables["artist"]
        rows = self.session.execute(
            select(Artist, table.created_at)
            .join(table, self._item("artist") == Artist.artist_id)
            .where(self._owner("artist") == owner_id)
            .order_by(table.created_at.desc(), Artist.artist_id)
        )
        return [(a, at) for a, at in rows]

    def tracks(self, owner_id: str) -> list[tuple[Track, datetime]]:
        """The blocked tracks (with their artists), newest block first."""
        table = self.tables["track"]
        rows = self.session.execute(
            select(Track, table.created_at)
            .join(table, self._item("track") == Track.track_id)
            .options(joinedload(Track.artist))
            .where(self._owner("track") == owner_id)
            .order_by(table.created_at.desc(), Track.track_id)
        )
        return [(t, at) for t, at in rows]
