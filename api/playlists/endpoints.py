"""HTTP routes of the playlist domain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from api.badges.repository import BadgeRepository
from api.badges.service import BadgeService
from api.db.models import User
from api.deps import CurrentUser, IndexDep, OptionalIndexDep, SessionDep, bearer_scheme, get_current_user
from api.errors import PROBLEM_RESPONSE
from api.playlists.export import to_m3u, to_xspf
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistCreate, PlaylistOrder, PlaylistOut, PlaylistSummary, PlaylistUpdate
from api.playlists.service import PlaylistService

router = APIRouter(prefix="/api/playlists", tags=["playlists"])

PlaylistId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
# reads are anonymous, but a bearer token that is sent must be valid (401 otherwise)
_READ_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSE,
    403: PROBLEM_RESPONSE,
    404: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
}


def optional_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User | None:
    """The signed-in user when a bearer token is sent, else None (anonymous readers see public playlists)."""
    if credentials is None:
        return None
    return get_current_user(request, session, credentials)


Viewer = Annotated[User | None, Depends(optional_user)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaylistOut,
    responses={401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Generate a playlist from 1..10 seed tracks or an upload",
)
def create_playlist(body: PlaylistCreate, user: CurrentUser, session: SessionDep, index: IndexDep) -> PlaylistOut:
    """Average the seeds' vectors (or take the upload's), search the track index within the filters (genre,
    mood_style, energy, valence, source) with at most `max_per_artist` tracks per artist, drop the seeds (and
    near-duplicates if asked), optionally re-rank for discovery (MMR), join titles/artists/genres from the
    catalog, and store the playlist (private) with its recipe. Each track carries its similarity and why it
    was chosen."""
    out = PlaylistService(PlaylistRepository(session), index).create(body, user)
    BadgeService(BadgeRepository(session)).evaluate(user.id)
    return out


@router.get("", response_model=list[PlaylistSummary], responses={401: PROBLEM_RESPONSE}, summary="My playlists")
def my_playlists(
    user: CurrentUser,
    session: SessionDep,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> list[PlaylistSummary]:
    """The signed-in user's playlists, newest first."""
    return PlaylistService(PlaylistRepository(session)).list_owned(user, limit, offset)


@router.get("/{playlist_id}", response_model=PlaylistOut, responses=_READ_ERRORS, summary="Read a playlist")
def get_playlist(playlist_id: PlaylistId, session: SessionDep, viewer: Viewer) -> PlaylistOut:
    """A public playlist, or one of the caller's own."""
    return PlaylistService(PlaylistRepository(session)).get(playlist_id, viewer)


@router.patch(
    "/{playlist_id}", response_model=PlaylistOut, responses=_WRITE_ERRORS, summary="Rename / publish a playlist"
)
def update_playlist(
    playlist_id: PlaylistId, body: PlaylistUpdate, user: CurrentUser, session: SessionDep
) -> PlaylistOut:
    """Change the title and/or visibility (private | public); owner only."""
    out = PlaylistService(PlaylistRepository(session)).update(playlist_id, body, user)
    BadgeService(BadgeRepository(session)).evaluate(user.id)
    return out


@router.put(
    "/{playlist_id}/tracks",
    response_model=PlaylistOut,
    responses=_WRITE_ERRORS,
    summary="Reorder or remove tracks",
)
def reorder_playlist(
    playlist_id: PlaylistId, body: PlaylistOrder, user: CurrentUser, session: SessionDep, index: OptionalIndexDep
) -> PlaylistOut:
    """Send the track ids in their new order; ids left out are removed; owner only."""
    return PlaylistService(PlaylistRepository(session), index).reorder(playlist_id, body, user)


@router.post(
    "/{playlist_id}/refresh",
    response_model=PlaylistOut,
    responses={**_WRITE_ERRORS, 503: PROBLEM_RESPONSE},
    summary="Regenerate a playlist from its recipe",
)
def refresh_playlist(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep, index: IndexDep) -> PlaylistOut:
    """Run the stored recipe (seeds and options) again against the index served now, e.g. after a re-index
    with a better encoder; title and visibility stay, the recipe records the new index version; owner only."""
    return PlaylistService(PlaylistRepository(session), index).refresh(playlist_id, user)


@router.delete(
    "/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_WRITE_ERRORS, summary="Delete a playlist"
)
def delete_playlist(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> Response:
    """Delete the playlist; owner only."""
    PlaylistService(PlaylistRepository(session)).delete(playlist_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{playlist_id}/export.m3u",
    responses={**_READ_ERRORS, 200: {"content": {"audio/x-mpegurl": {}}}},
    summary="Export as extended M3U",
)
def export_m3u(playlist_id: PlaylistId, request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """The playlist as `#EXTM3U` with each track's stream URL."""
    out = PlaylistService(PlaylistRepository(session)).get(playlist_id, viewer)
    body = to_m3u(out, str(request.base_url).rstrip("/"))
    return Response(body, media_type="audio/x-mpegurl", headers=_attachment(out.id, "m3u"))


@router.get(
    "/{playlist_id}/export.xspf",
    responses={**_READ_ERRORS, 200: {"content": {"application/xspf+xml": {}}}},
    summary="Export as XSPF",
)
def export_xspf(playlist_id: PlaylistId, request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """The playlist as XSPF 1."""
    out = PlaylistService(PlaylistRepository(session)).get(playlist_id, viewer)
    body = to_xspf(out, str(request.base_url).rstrip("/"))
    return Response(body, media_type="application/xspf+xml", headers=_attachment(out.id, "xspf"))


def _attachment(playlist_id: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="museed-{playlist_id}.{ext}"'}
