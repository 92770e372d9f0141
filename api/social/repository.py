"""SQL for likes, saves, follows and the feeds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from api.db.models import Follow, Playlist, PlaylistLike, PlaylistSave, PlaylistTrack, User
from api.db.session import insert_once
from api.social.schemas import FeedSort

Edge = type[PlaylistLike] | type[PlaylistSave]


class SocialRepository:
    """The only place that touches the social tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- likes and saves (same shape: user x playlist) ----------------------------------------------
    def add_edge(self, model: Edge, user_id: str, playlist_id: str) -> bool:
        """Insert (user, playlist) unless present; True when it was new."""
        if not insert_once(self.session, model(user_id=user_id, playlist_id=playlist_id), (user_id, playlist_id)):
            return False  # present, or a concurrent duplicate that lost on the primary key: counted once
        if model is PlaylistLike:
            self._count_like(playlist_id, +1)
        return True

    def remove_edge(self, model: Edge, user_id: str, playlist_id: str) -> bool:
        """Delete (user, playlist) if present; True when it existed."""
        row = self.session.get(model, (user_id, playlist_id))
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        if model is PlaylistLike:
            self._count_like(playlist_id, -1)
        return True

    def _count_like(self, playlist_id: str, delta: int) -> None:
        # one atomic UPDATE (row-locked), so concurrent likes of one playlist never lose a count
        self.session.execute(
            update(Playlist)
            .where(Playlist.id == playlist_id)
            .values(like_count=Playlist.like_count + delta, updated_at=Playlist.updated_at)
            .execution_options(synchronize_session=False)
        )

    # ---- follows --------------------------------------------------------------------------------
    def follow(self, follower_id: str, followee_id: str) -> bool:
        """Follow unless already following; True when new."""
        if self.session.get(Follow, (follower_id, followee_id)) is not None:
            return False
        with self.session.begin_nested():
            self.session.add(Follow(follower_id=follower_id, followee_id=followee_id))
        return True

    def unfollow(self, follower_id: str, followee_id: str) -> bool:
        """Stop following; True when there was something to stop."""
        row = self.session.get(Follow, (follower_id, followee_id))
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    def followers(self, user_id: str, limit: int, offset: int) -> list[User]:
        """Users following `user_id`, newest first."""
        return list(
            self.session.scalars(
                select(User)
                .join(Follow, Follow.follower_id == User.id)
                .where(Follow.followee_id == user_id)
                .order_by(Follow.created_at.desc(), User.id)
                .limit(limit)
                .offset(offset)
            )
        )

    def following(self, user_id: str, limit: int, offset: int) -> list[User]:
        """Users `user_id` follows, newest first."""
        return list(
            self.session.scalars(
                select(User)
                .join(Follow, Follow.followee_id == User.id)
                .where(Follow.follower_id == user_id)
                .order_by(Follow.created_at.desc(), User.id)
                .limit(limit)
                .offset(offset)
            )
        )

    # ---- playlist lists -------------------------------------------------------------------------
    def _summaries(self) -> Any:
        # the page's rows with their track counts in one statement (a correlated count on the playlist_tracks
        # primary key per row of the page); likes come from `like_count`
        tracks = (
            select(func.count())
            .select_from(PlaylistTrack)
            .where(PlaylistTrack.playlist_id == Playlist.id)
            .correlate(Playlist)
            .scalar_subquery()
        )
        return select(Playlist, tracks.label("n_tracks")).options(defer(Playlist.embedding), defer(Playlist.recipe))

    def public_feed(self, sort: FeedSort, limit: int, offset: int) -> list[tuple[Playlist, int, int]]:
        """Public playlists, newest or most liked first."""
        stmt = self._summaries().where(Playlist.visibility == "public")
        if sort == "liked":
            stmt = stmt.order_by(Playlist.like_count.desc(), Playlist.created_at.desc(), Playlist.id)
        else:
            stmt = stmt.order_by(Playlist.created_at.desc(), Playlist.id)
        return self._rows(stmt, limit, offset)

    def following_feed(self, user_id: str, limit: int, offset: int) -> list[tuple[Playlist, int, int]]:
        """Public playlists of the people `user_id` follows, newest first."""
        followed = select(Follow.followee_id).where(Follow.follower_id == user_id)
        stmt = (
            self._summaries()
            .where(Playlist.visibility == "public", Playlist.owner_id.in_(followed))
            .order_by(Playlist.created_at.desc(), Playlist.id)
        )
        return self._rows(stmt, limit, offset)

    def saved(self, user_id: str, limit: int, offset: int) -> list[tuple[Playlist, int, int]]:
        """Playlists `user_id` saved that they may still read (public, or their own)."""
        stmt = (
            self._summaries()
            .join(PlaylistSave, PlaylistSave.playlist_id == Playlist.id)
            .where(PlaylistSave.user_id == user_id)
            .where((Playlist.visibility == "public") | (Playlist.owner_id == user_id))
            .order_by(PlaylistSave.created_at.desc(), Playlist.id)
        )
        return self._rows(stmt, limit, offset)

    def _rows(self, stmt: Any, limit: int, offset: int) -> list[tuple[Playlist, int, int]]:
        """(playlist, tracks, likes) of one page, in one round trip."""
        return [(p, int(n or 0), p.like_count) for p, n in self.session.execute(stmt.limit(limit).offset(offset))]

    # ---- taste ------------------------------------------------------------------------------------------

    def playlist_embeddings(self, owner_ids: list[str], public_only: bool) -> list[tuple[str, str, Any]]:
        """(playlist id, owner id, embedding or None) of the playlists of `owner_ids` (only public ones if asked),
        without the rest of the rows."""
        if not owner_ids:
            return []
        stmt = select(Playlist.id, Playlist.owner_id, Playlist.embedding).where(Playlist.owner_id.in_(owner_ids))
        if public_only:
            stmt = stmt.where(Playlist.visibility == "public")
        return [(pid, str(owner), emb) for pid, owner, emb in self.session.execute(stmt.order_by(Playlist.id))]

    def set_embedding(self, playlist_id: str, embedding: list[float]) -> None:
        """Store a (lazily) computed playlist embedding; not an edit, so `updated_at` stays."""
        self.session.execute(
            update(Playlist)
            .where(Playlist.id == playlist_id)
            .values(embedding=embedding, updated_at=Playlist.updated_at)
            .execution_options(synchronize_session=False)
        )

    def track_ids_of(self, playlist_ids: list[str]) -> dict[str, list[int]]:
        """Track ids per playlist."""
        out: dict[str, list[int]] = {p: [] for p in playlist_ids}
        if playlist_ids:
            rows = self.session.execute(
                select(PlaylistTrack.playlist_id, PlaylistTrack.track_id).where(
                    PlaylistTrack.playlist_id.in_(playlist_ids)
                )
            )
            for pid, tid in rows:
                out[pid].append(int(tid))
        return out

    def users_by_id(self, user_ids: list[str]) -> dict[str, User]:
        """Users by id."""
        return {u.id: u for u in self.session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}

    def follows_of(self, follower_id: str) -> set[str]:
        """Ids of everyone `follower_id` follows."""
        return set(self.session.scalars(select(Follow.followee_id).where(Follow.follower_id == follower_id)))
