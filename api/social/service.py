"""Social rules: who may like, save and follow what; feeds."""

from __future__ import annotations

from typing import Literal

import numpy as np

from api.badges.repository import BadgeRepository
from api.badges.service import BadgeService
from api.db.models import PlaylistLike, PlaylistSave, User
from api.errors import NotFound, Unprocessable
from api.playlists.recommend import unit_mean
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistSummary
from api.playlists.service import PlaylistService, summary
from api.social.repository import Edge, SocialRepository
from api.users.repository import UserRepository
from api.users.schemas import PublicProfile, SimilarListener
from api.users.service import public_profile
from indexing.milvus_index import TrackIndex


class SocialService:
    """Likes, saves, follows and feeds."""

    def __init__(self, repo: SocialRepository, playlists: PlaylistRepository, users: UserRepository) -> None:
        self.repo = repo
        self.playlists = PlaylistService(playlists)
        self.users = users
        self.badges = BadgeService(BadgeRepository(repo.session))

    def _edge(self, model: Edge, user: User, playlist_id: str, on: bool) -> None:
        # only playlists the user can see: no liking someone's private playlist by guessing its id
        playlist = self.playlists.readable(playlist_id, user)
        if on:
            if self.repo.add_edge(model, user.id, playlist_id) and model is PlaylistLike and playlist.owner_id:
                self.badges.evaluate(playlist.owner_id)
        else:
            self.repo.remove_edge(model, user.id, playlist_id)

    def like(self, user: User, playlist_id: str, on: bool = True) -> None:
        """Like (idempotent) or unlike a visible playlist."""
        self._edge(PlaylistLike, user, playlist_id, on)

    def save(self, user: User, playlist_id: str, on: bool = True) -> None:
        """Save (bookmark, idempotent) or unsave a visible playlist."""
        self._edge(PlaylistSave, user, playlist_id, on)

    def _user(self, user_id: str) -> User:
        target = self.users.get(user_id)
        if target is None:
            raise NotFound(f"no user {user_id!r}")
        return target

    def follow(self, user: User, followee_id: str, on: bool = True) -> None:
        """Follow (idempotent) or unfollow another user; following yourself is refused."""
        if followee_id == user.id:
            raise Unprocessable("you cannot follow yourself")
        self._user(followee_id)
        if on:
            if self.repo.follow(user.id, followee_id):
                self.badges.evaluate(user.id)
        else:
            self.repo.unfollow(user.id, followee_id)

    def followers(self, user_id: str, limit: int, offset: int) -> list[PublicProfile]:
        """Who follows `user_id`."""
        self._user(user_id)
        return [public_profile(u) for u in self.repo.followers(user_id, limit, offset)]

    def following(self, user_id: str, limit: int, offset: int) -> list[PublicProfile]:
        """Whom `user_id` follows."""
        self._user(user_id)
        return [public_profile(u) for u in self.repo.following(user_id, limit, offset)]

    def public_feed(self, sort: Literal["recent", "liked"], limit: int, offset: int) -> list[PlaylistSummary]:
        """Public playlists by recency or likes."""
        return [summary(*row) for row in self.repo.public_feed(sort, limit, offset)]

    def following_feed(self, user: User, limit: int, offset: int) -> list[PlaylistSummary]:
        """New public playlists of followed users."""
        return [summary(*row) for row in self.repo.following_feed(user.id, limit, offset)]

    def saved(self, user: User, limit: int, offset: int) -> list[PlaylistSummary]:
        """The user's saved playlists that are still visible to them."""
        return [summary(*row) for row in self.repo.saved(user.id, limit, offset)]

    def similar_taste(self, user: User, index: TrackIndex | None, limit: int) -> list[SimilarListener]:
        """Listeners whose public playlists sit closest to all of `user`'s playlists in the encoder's space.

        A playlist's embedding is the unit mean of its tracks' vectors (stored when it is made, recomputed here
        after edits); a taste is the unit mean of a user's playlist embeddings; similarity is their cosine.
        Only public playlists speak for other people."""
        playlists = self.repo.taste_playlists(user.id)
        stale = [p for p in playlists if p.embedding is None]
        if stale and index is not None:
            tracks = self.repo.track_ids_of([p.id for p in stale])
            vectors = index.get_vectors(sorted({t for ids in tracks.values() for t in ids}))
            for p in stale:
                p.embedding = unit_mean([vectors[t] for t in tracks[p.id] if t in vectors])
            self.repo.session.flush()
        by_user: dict[str, list[np.ndarray]] = {}
        n_public: dict[str, int] = {}
        for p in playlists:
            if p.owner_id is None:
                continue
            if p.owner_id != user.id:
                n_public[p.owner_id] = n_public.get(p.owner_id, 0) + 1
            if p.embedding is not None:
                by_user.setdefault(p.owner_id, []).append(np.asarray(p.embedding, dtype=np.float32))
        mine = unit_mean(by_user.pop(user.id, []))
        if mine is None:
            raise Unprocessable("make a playlist first: your taste is read from your playlists")
        others = [(uid, unit_mean(vs)) for uid, vs in by_user.items()]
        scored = sorted(
            ((float(np.dot(mine, taste)), uid) for uid, taste in others if taste is not None),
            key=lambda x: (-x[0], x[1]),
        )[:limit]
        users = self.repo.users_by_id([uid for _, uid in scored])
        followed = self.repo.follows_of(user.id)
        return [
            SimilarListener(
                **public_profile(users[uid]).model_dump(),
                similarity=round(score, 4),
                public_playlists=n_public.get(uid, 0),
                following=uid in followed,
            )
            for score, uid in scored
            if uid in users
        ]
