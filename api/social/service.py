"""Social rules: who may like, save and follow what; feeds."""

from __future__ import annotations

from typing import Literal

from api.badges.repository import BadgeRepository
from api.badges.service import BadgeService
from api.db.models import PlaylistLike, PlaylistSave, User
from api.errors import NotFound, Unprocessable
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistSummary
from api.playlists.service import PlaylistService, summary
from api.social.repository import Edge, SocialRepository
from api.users.repository import UserRepository
from api.users.schemas import PublicProfile
from api.users.service import public_profile


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
