"""HTTP routes of likes, saves, follows and feeds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import CurrentUser, OptionalIndexDep, SessionDep
from api.errors import PROBLEM_RESPONSE
from api.playlists.endpoints import PlaylistId
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistSummary
from api.social.repository import SocialRepository
from api.social.service import SocialService
from api.users.repository import UserRepository
from api.users.schemas import PublicProfile, SimilarListener

router = APIRouter(tags=["social"])
UserId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]
_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_LIST_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
NO_CONTENT = status.HTTP_204_NO_CONTENT


def _svc(session: SessionDep) -> SocialService:
    return SocialService(SocialRepository(session), PlaylistRepository(session), UserRepository(session))


@router.put("/api/playlists/{playlist_id}/like", status_code=NO_CONTENT, responses=_ERRORS, summary="Like")
def like(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> Response:
    """Like a playlist you can see; liking twice changes nothing."""
    _svc(session).like(user, playlist_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/playlists/{playlist_id}/like", status_code=NO_CONTENT, responses=_ERRORS, summary="Unlike")
def unlike(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> Response:
    """Remove your like (no-op when there is none)."""
    _svc(session).like(user, playlist_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.put("/api/playlists/{playlist_id}/save", status_code=NO_CONTENT, responses=_ERRORS, summary="Save")
def save(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> Response:
    """Bookmark a playlist you can see (a bookmark, not a copy: it shows the owner's later edits)."""
    _svc(session).save(user, playlist_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/playlists/{playlist_id}/save", status_code=NO_CONTENT, responses=_ERRORS, summary="Unsave")
def unsave(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> Response:
    """Remove the bookmark."""
    _svc(session).save(user, playlist_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.get("/api/users/me/saved", response_model=list[PlaylistSummary], responses=_LIST_ERRORS, summary="My saved")
def my_saved(user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> list[PlaylistSummary]:
    """Playlists you saved that are still visible to you."""
    return _svc(session).saved(user, limit, offset)


@router.put("/api/users/{user_id}/follow", status_code=NO_CONTENT, responses=_ERRORS, summary="Follow")
def follow(user_id: UserId, user: CurrentUser, session: SessionDep) -> Response:
    """Follow a user (idempotent; not yourself)."""
    _svc(session).follow(user, user_id, on=True)
    return Response(status_code=NO_CONTENT)


@router.delete("/api/users/{user_id}/follow", status_code=NO_CONTENT, responses=_ERRORS, summary="Unfollow")
def unfollow(user_id: UserId, user: CurrentUser, session: SessionDep) -> Response:
    """Stop following a user."""
    _svc(session).follow(user, user_id, on=False)
    return Response(status_code=NO_CONTENT)


@router.get(
    "/api/users/{user_id}/followers", response_model=list[PublicProfile], responses=_PUBLIC_ERRORS, summary="Followers"
)
def followers(user_id: UserId, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> list[PublicProfile]:
    """Who follows this user."""
    return _svc(session).followers(user_id, limit, offset)


@router.get(
    "/api/users/{user_id}/following", response_model=list[PublicProfile], responses=_PUBLIC_ERRORS, summary="Following"
)
def following(user_id: UserId, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> list[PublicProfile]:
    """Whom this user follows."""
    return _svc(session).following(user_id, limit, offset)


@router.get("/api/feed", response_model=list[PlaylistSummary], summary="Public playlists")
def public_feed(
    session: SessionDep,
    sort: Literal["recent", "liked"] = "recent",
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[PlaylistSummary]:
    """Public playlists, newest or most liked first."""
    return _svc(session).public_feed(sort, limit, offset)


@router.get(
    "/api/feed/following",
    response_model=list[PlaylistSummary],
    responses=_LIST_ERRORS,
    summary="From people I follow",
)
def following_feed(
    user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> list[PlaylistSummary]:
    """New public playlists of the people you follow."""
    return _svc(session).following_feed(user, limit, offset)


@router.get(
    "/api/users/me/similar",
    response_model=list[SimilarListener],
    responses=_LIST_ERRORS,
    summary="People with similar taste",
)
def similar_taste(
    user: CurrentUser, session: SessionDep, index: OptionalIndexDep, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[SimilarListener]:
    """Listeners whose public playlists are closest to all your playlists (cosine of the unit means of the
    playlists' track vectors), most similar first; 422 until you have a playlist."""
    return _svc(session).similar_taste(user, index, limit)
