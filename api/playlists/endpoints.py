"""HTTP routes of the playlist domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.common import PageDep, PlaylistId
from api.deps import CurrentUser, Viewer
from api.errors import PROBLEM_RESPONSE
from api.playlists.export import to_m3u, to_xspf
from api.playlists.schemas import PlaylistCreate, PlaylistOrder, PlaylistOut, PlaylistSummary, PlaylistUpdate
from api.playlists.service import PlaylistGeneratorDep, PlaylistServiceDep

router = APIRouter(prefix="/api/playlists", tags=["playlists"])

# reads are anonymous, but a bearer token that is sent must be valid (401 otherwise)
_READ_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSE,
    403: PROBLEM_RESPONSE,
    404: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaylistOut,
    # 404: `seed_upload_id` names no upload of the caller's
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Generate a playlist from 1..10 seed tracks or an upload",
)
def create_playlist(body: PlaylistCreate, user: CurrentUser, playlists: PlaylistGeneratorDep) -> PlaylistOut:
    """Average the seeds' vectors (or take the upload's), search the track index within the filters (genre,
    mood_style, energy, valence, source) with at most `max_per_artist` tracks per artist, drop the seeds (and
    near-duplicates if asked), optionally re-rank for discovery (MMR), join titles/artists/genres from the
    catalog, and store the playlist (private) with its recipe. Each track carries its similarity and why it
    was chosen."""
    return playlists.create(body, user)


@router.get("", response_model=list[PlaylistSummary], responses={401: PROBLEM_RESPONSE}, summary="My playlists")
def my_playlists(user: CurrentUser, playlists: PlaylistServiceDep, page: PageDep) -> list[PlaylistSummary]:
    """The signed-in user's playlists, newest first."""
    return playlists.list_owned(user, page)


@router.get("/{playlist_id}", response_model=PlaylistOut, responses=_READ_ERRORS, summary="Read a playlist")
def get_playlist(playlist_id: PlaylistId, viewer: Viewer, playlists: PlaylistServiceDep) -> PlaylistOut:
    """A public playlist, or one of the caller's own."""
    return playlists.get(playlist_id, viewer)


@router.patch(
    "/{playlist_id}", response_model=PlaylistOut, responses=_WRITE_ERRORS, summary="Rename / publish a playlist"
)
def update_playlist(
    playlist_id: PlaylistId, body: PlaylistUpdate, user: CurrentUser, playlists: PlaylistServiceDep
) -> PlaylistOut:
    """Change the title and/or visibility (private | public); owner only."""
    return playlists.update(playlist_id, body, user)


@router.put(
    "/{playlist_id}/tracks",
    response_model=PlaylistOut,
    responses=_WRITE_ERRORS,
    summary="Reorder or remove tracks",
)
def reorder_playlist(
    playlist_id: PlaylistId, body: PlaylistOrder, user: CurrentUser, playlists: PlaylistServiceDep
) -> PlaylistOut:
    """Send the track ids in their new order; ids left out are removed; owner only."""
    return playlists.reorder(playlist_id, body, user)


@router.post(
    "/{playlist_id}/refresh",
    response_model=PlaylistOut,
    responses={**_WRITE_ERRORS, 503: PROBLEM_RESPONSE},
    summary="Regenerate a playlist from its recipe",
)
def refresh_playlist(playlist_id: PlaylistId, user: CurrentUser, playlists: PlaylistGeneratorDep) -> PlaylistOut:
    """Run the stored recipe (seeds and options) again against the index served now, e.g. after a re-index
    with a better encoder; title and visibility stay, the recipe records the new index version; owner only."""
    return playlists.refresh(playlist_id, user)


@router.delete(
    "/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_WRITE_ERRORS, summary="Delete a playlist"
)
def delete_playlist(playlist_id: PlaylistId, user: CurrentUser, playlists: PlaylistServiceDep) -> Response:
    """Delete the playlist; owner only."""
    playlists.delete(playlist_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{playlist_id}/export.m3u",
    responses={**_READ_ERRORS, 200: {"content": {"audio/x-mpegurl": {}}}},
    summary="Export as extended M3U",
)
def export_m3u(playlist_id: PlaylistId, request: Request, viewer: Viewer, playlists: PlaylistServiceDep) -> Response:
    """The playlist as `#EXTM3U` with each track's stream URL."""
    out = playlists.get(playlist_id, viewer)
    body = to_m3u(out, str(request.base_url).rstrip("/"))
    return Response(body, media_type="audio/x-mpegurl", headers=_attachment(out.id, "m3u"))


@router.get(
    "/{playlist_id}/export.xspf",
    responses={**_READ_ERRORS, 200: {"content": {"application/xspf+xml": {}}}},
    summary="Export as XSPF",
)
def export_xspf(playlist_id: PlaylistId, request: Request, viewer: Viewer, playlists: PlaylistServiceDep) -> Response:
    """The playlist as XSPF 1."""
    out = playlists.get(playlist_id, viewer)
    body = to_xspf(out, str(request.base_url).rstrip("/"))
    return Response(body, media_type="application/xspf+xml", headers=_attachment(out.id, "xspf"))


def _attachment(playlist_id: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="museed-{playlist_id}.{ext}"'}
