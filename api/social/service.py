"""Social rules: who may like, save and follow what; feeds."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import structlog
from fastapi import Depends

from api.badges.service import BadgeService, BadgeServiceDep
from api.common import Page
from api.db.models import PlaylistLike, PlaylistSave, User
from api.deps import OptionalIndexDep, SessionDep
from api.errors import NotFound, Unprocessable
from api.playlists.recommend import unit_mean
from api.playlists.schemas import PlaylistSummary
from api.playlists.service import PlaylistService, PlaylistServiceDep, summary
from api.playlists.taste import TasteMatrix, TasteRepository
from api.social.repository import Edge, SocialRepository
from api.social.schemas import FeedSort, SimilarListener
from api.users.repository import UserRepository
from api.users.schemas import PublicProfile
from api.users.service import public_profile
from indexing.milvus_index import TrackIndex

log = structlog.get_logger("museed.social")


class SocialService:
    """Likes, saves, follows and feeds."""

    def __init__(
        self,
        repo: SocialRepository,
        playlists: PlaylistService,
        users: UserRepository,
        badges: BadgeService,
        tastes: TasteRepository,
        index: TrackIndex | None,
    ) -> None:
        self.repo = repo
        self.playlists = playlists
        self.users = users
        self.badges = badges
        self.tastes = tastes
        self.index = index

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

    def followers(self, user_id: str, page: Page) -> list[PublicProfile]:
        """Who follows `user_id`."""
        self._user(user_id)
        return [public_profile(u) for u in self.repo.followers(user_id, page.limit, page.offset)]

    def following(self, user_id: str, page: Page) -> list[PublicProfile]:
        """Whom `user_id` follows."""
        self._user(user_id)
        return [public_profile(u) for u in self.repo.following(user_id, page.limit, page.offset)]

    def public_feed(self, sort: FeedSort, page: Page) -> list[PlaylistSummary]:
        """Public playlists by recency or likes."""
        return [summary(*row) for row in self.repo.public_feed(sort, page.limit, page.offset)]

    def following_feed(self, user: User, page: Page) -> list[PlaylistSummary]:
        """New public playlists of followed users."""
        return [summary(*row) for row in self.repo.following_feed(user.id, page.limit, page.offset)]

    def saved(self, user: User, page: Page) -> list[PlaylistSummary]:
        """The user's saved playlists that are still visible to them."""
        return [summary(*row) for row in self.repo.saved(user.id, page.limit, page.offset)]

    def similar_taste(self, user: User, limit: int) -> list[SimilarListener]:
        """Listeners whose public playlists sit closest to all of `user`'s playlists in the encoder's space.

        A playlist's embedding is the unit mean of its tracks' vectors (stored when it is made or edited; computed
        here when missing and an index is served); a taste is the unit mean of a user's playlist embeddings;
        similarity is their cosine. Only public playlists speak for other people: their tastes are read from
        `user_tastes`, which every playlist write keeps current (one row per listener, not every playlist)."""
        tastes, index = self.tastes, self.index
        own = self.repo.playlist_embeddings([user.id], public_only=False)
        computed: dict[str, list[float]] = {}
        if index is not None:
            stale = [r for r in own if r[2] is None]
            stale += [r for r in self.repo.playlist_embeddings(tastes.stale_owners(user.id), True) if r[2] is None]
            computed = self._compute_embeddings(stale, index)
            for owner in sorted({owner for pid, owner, _ in stale if pid in computed}):
                tastes.refresh(owner)
        mine = unit_mean(
            [np.asarray(e, dtype=np.float32) for pid, _, emb in own if (e := computed.get(pid, emb)) is not None]
        )
        if mine is None:
            raise Unprocessable("make a playlist first: your taste is read from your playlists")
        scored = _nearest(np.asarray(mine, dtype=np.float32), tastes.matrices(), user.id, limit)
        ids = [uid for _, uid in scored]
        users = self.repo.users_by_id(ids)
        n_public = tastes.public_counts(ids)
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

    def _compute_embeddings(self, stale: list[tuple[str, str, Any]], index: TrackIndex) -> dict[str, list[float]]:
        """Compute and store the embeddings of `stale` (playlist id, owner, _) from the index; by playlist id
        (playlists none of whose tracks are indexed stay without one)."""
        if not stale:
            return {}
        tracks = self.repo.track_ids_of([pid for pid, _, _ in stale])
        try:
            vectors = index.get_vectors(sorted({t for ids in tracks.values() for t in ids}))
        except Exception as exc:  # the stored tastes still answer; the next query tries again
            log.warning("playlist embeddings left for later: index lookup failed", error=str(exc))
            return {}
        out: dict[str, list[float]] = {}
        for pid, _, _ in stale:
            embedding = unit_mean([vectors[t] for t in tracks[pid] if t in vectors])
            if embedding is not None:
                self.repo.set_embedding(pid, embedding)
                out[pid] = embedding
        return out


def _nearest(query: np.ndarray, tastes: dict[int, TasteMatrix], except_id: str, limit: int) -> list[tuple[float, str]]:
    """The `limit` highest (cosine, user id) of `query` with the stored tastes but `except_id`'s, most similar
    first, ties by id (tastes of another size, i.e. from another encoder, are not comparable and left out)."""
    group = tastes.get(query.nbytes)
    if group is None or limit <= 0:
        return []
    scores = (group.matrix @ query).astype(np.float64)
    me = group.row_of.get(except_id)
    if me is not None:
        scores[me] = -np.inf
    n = len(scores) - (me is not None)
    if n <= 0:
        return []
    if n > limit:
        kth = scores[np.argpartition(-scores, limit - 1)[:limit]].min()
        candidates = np.flatnonzero(scores >= kth)  # every tie at the cut, so ties still go by user id
    else:
        candidates = np.flatnonzero(np.isfinite(scores))
    ranked = sorted(((float(scores[i]), group.user_ids[i]) for i in candidates), key=lambda x: (-x[0], x[1]))
    return ranked[:limit]


async def get_social_service(
    session: SessionDep, playlists: PlaylistServiceDep, badges: BadgeServiceDep, index: OptionalIndexDep
) -> SocialService:
    """The request's social service (with the served index, when there is one, for taste similarity)."""
    return SocialService(
        SocialRepository(session), playlists, UserRepository(session), badges, TasteRepository(session), index
    )


SocialServiceDep = Annotated[SocialService, Depends(get_social_service)]
