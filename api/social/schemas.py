"""Request and response bodies of the social endpoints (feeds and follows list playlists and profiles, whose
bodies belong to the playlist and account domains)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.users.schemas import PublicProfile

#: how the public feed is ordered
FeedSort = Literal["recent", "liked"]


class SimilarListener(PublicProfile):
    """Someone whose public playlists are close to your playlists."""

    similarity: float = Field(description="cosine between the two tastes (unit means of playlist embeddings)")
    public_playlists: int
    following: bool = Field(description="whether you already follow them")
