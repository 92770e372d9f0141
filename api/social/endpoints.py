"""HTTP routes of likes, saves, follows and feeds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.common import PageDep, PlaylistId, UserId
from api.deps import CurrentUser
from api.errors import PROBLEM_RESPONSE
from api.playlists.schemas import PlaylistSummary
from api.social.schemas import FeedSort, SimilarListener
from api.social.service import SocialServiceDep
from api.users.schemas import PublicProfile

router = APIRouter(tags=["social"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_LIST_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.put("/api/playlists/{playlist_id}/like", status_code=NO_CONTENT, responses=_ERRORS, summary="Like")
def like(playlist_id: PlaylistId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Like a playlist you can see; liking twice changes nothing."""
    social.like(user, playlist_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/playlists/{playlist_id}/like", status_code=NO_CONTENT, responses=_ERRORS, summary="Unlike")
def unlike(playlist_id: PlaylistId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Remove your like (no-op when there is none)."""
    social.like(user, playlist_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.put("/api/playlists/{playlist_id}/save", status_code=NO_CONTENT, responses=_ERRORS, summary="Save")
def save(playlist_id: PlaylistId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Bookmark a playlist you can see (a bookmark, not a copy: it shows the owner's later edits)."""
    social.save(user, playlist_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/playlists/{playlist_id}/save", status_code=NO_CONTENT, responses=_ERRORS, summary="Unsave")
def unsave(playlist_id: PlaylistId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Remove the bookmark."""
    social.save(user, playlist_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.get("/api/users/me/saved", response_model=list[PlaylistSummary], responses=_LIST_ERRORS, summary="My saved")
def my_saved(user: CurrentUser, social: SocialServiceDep, page: PageDep) -> list[PlaylistSummary]:
    """Playlists you saved that are still visible to you."""
    return social.saved(user, page)


@router.put("/api/users/{user_id}/follow", status_code=NO_CONTENT, responses=_ERRORS, summary="Follow")
def follow(user_id: UserId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Follow a user (idempotent; not yourself)."""
    social.follow(user, user_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/users/{user_id}/follow", status_code=NO_CONTENT, responses=_ERRORS, summary="Unfollow")
def unfollow(user_id: UserId, user: CurrentUser, social: SocialServiceDep) -> Response:
    """Stop following a user."""
    social.follow(user, user_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.get(
    "/api/users/{user_id}/followers", response_model=list[PublicProfile], responses=_PUBLIC_ERRORS, summary="Followers"
)
def followers(user_id: UserId, social: SocialServiceDep, page: PageDep) -> list[PublicProfile]:
    """Who follows this user."""
    return social.followers(user_id, page)


@router.get(
    "/api/users/{user_id}/following", response_model=list[PublicProfile], responses=_PUBLIC_ERRORS, summary="Following"
)
def following(user_id: UserId, social: SocialServiceDep, page: PageDep) -> list[PublicProfile]:
    """Whom this user follows."""
    return social.following(user_id, page)


@router.get("/api/feed", response_model=list[PlaylistSummary], summary="Public playlists")
def public_feed(social: SocialServiceDep, page: PageDep, sort: FeedSort = "recent") -> list[PlaylistSummary]:
    """Public playlists, newest or most liked first."""
    return social.public_feed(sort, page)


@router.get(
    "/api/feed/following",
    response_model=list[PlaylistSummary],
    responses=_LIST_ERRORS,
    summary="From people I follow",
)
def following_feed(user: CurrentUser, social: SocialServiceDep, page: PageDep) -> list[PlaylistSummary]:
    """New public playlists of the people you follow."""
    return social.following_feed(user, page)


@router.get(
    "/api/users/me/similar",
    response_model=list[SimilarListener],
    responses=_LIST_ERRORS,
    summary="People with similar taste",
)
def similar_taste(
    user: CurrentUser, social: SocialServiceDep, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[SimilarListener]:
    """Listeners whose public playlists are closest to all your playlists (cosine of the unit means of the
    playlists' track vectors), most similar first; 422 until you have a playlist."""
    return social.similar_taste(user, limit)
