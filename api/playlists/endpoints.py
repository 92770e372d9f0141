"""HTTP routes of the playlist domain, and of what a listener tells it: blocked artists and tracks, tracks heard."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.common import PageDep, PlaylistId, TrackId
from api.deps import CurrentUser, Viewer
from api.errors import PROBLEM_RESPONSE
from api.playlists.blocklists import UserBlocklistsDep
from api.playlists.export import to_jspf, to_m3u, to_xspf
from api.playlists.schemas import (
    BlockedArtist,
    BlockedTrack,
    BlocklistOut,
    HeardPage,
    PlaylistCreate,
    PlaylistFork,
    PlaylistOrder,
    PlaylistOut,
    PlaylistSummary,
    PlaylistUpdate,
)
from api.playlists.service import PlaylistGeneratorDep, PlaylistServiceDep

router = APIRouter(prefix="/api/playlists", tags=["playlists"])
#: the signed-in listener's blocklist and heard tracks (the users domain's `/api/users/me` path style)
listener_router = APIRouter(prefix="/api/users/me", tags=["listening"])
#: a catalog artist id in a path (bounded like a track id: larger ones name nothing, 422)
ArtistId = TrackId
NO_CONTENT = status.HTTP_204_NO_CONTENT

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
    """Run the stored recipe (seeds and options) again against the index served now and top the playlist up to
    its size: tracks the owner kept (`PUT .../tracks/{track_id}/keep`) stay first; every other track is new:
    never one this playlist served before, one the owner marked heard, or a blocked one. Title and visibility
    stay, the recipe records the index version that answered; owner only. 422 (`no_match`) when nothing new
    matches and nothing is kept."""
    return playlists.refresh(playlist_id, user)


@router.post(
    "/{playlist_id}/fork",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaylistOut,
    responses=_WRITE_ERRORS,
    summary="Fork a public playlist with its recipe",
)
def fork_playlist(
    playlist_id: PlaylistId, user: CurrentUser, playlists: PlaylistServiceDep, body: PlaylistFork | None = None
) -> PlaylistOut:
    """A private copy owned by the caller: the same seeds, options (recipe) and tracks, with `forked_from`
    naming the source; refresh it to follow your own taste. Someone else's private playlist is absent (404);
    one seeded by its owner's private upload cannot be forked (422)."""
    return playlists.fork(playlist_id, body or PlaylistFork(), user)


@router.put(
    "/{playlist_id}/tracks/{track_id}/keep",
    status_code=NO_CONTENT,
    responses=_WRITE_ERRORS,
    summary="Keep a track through refreshes",
)
def keep_track(
    playlist_id: PlaylistId, track_id: TrackId, user: CurrentUser, playlists: PlaylistServiceDep
) -> Response:
    """Mark one of the playlist's tracks kept (idempotent): a refresh leaves it in place; owner only; 404 when
    the playlist holds no such track."""
    playlists.keep(playlist_id, track_id, user)
    return Response(status_code=NO_CONTENT)


@router.delete(
    "/{playlist_id}/tracks/{track_id}/keep",
    status_code=NO_CONTENT,
    responses=_WRITE_ERRORS,
    summary="Stop keeping a track",
)
def unkeep_track(
    playlist_id: PlaylistId, track_id: TrackId, user: CurrentUser, playlists: PlaylistServiceDep
) -> Response:
    """Clear the keep mark (idempotent): the next refresh replaces the track by a new one; owner only."""
    playlists.keep(playlist_id, track_id, user, on=False)
    return Response(status_code=NO_CONTENT)


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


@router.get(
    "/{playlist_id}/export.jspf",
    responses={**_READ_ERRORS, 200: {"content": {"application/jspf+json": {}}}},
    summary="Export as JSPF",
)
def export_jspf(playlist_id: PlaylistId, request: Request, viewer: Viewer, playlists: PlaylistServiceDep) -> Response:
    """The playlist as JSPF (XSPF in JSON)."""
    out = playlists.get(playlist_id, viewer)
    body = json.dumps(to_jspf(out, str(request.base_url).rstrip("/")), ensure_ascii=False)
    return Response(body, media_type="application/jspf+json", headers=_attachment(out.id, "jspf"))


def _attachment(playlist_id: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="museed-{playlist_id}.{ext}"'}


# -- the listener's blocklist and heard tracks ----------------------------------------------------------------

_ME_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}


@listener_router.get(
    "/blocklist", response_model=BlocklistOut, responses={401: PROBLEM_RESPONSE}, summary="My blocklist"
)
def my_blocklist(user: CurrentUser, blocklists: UserBlocklistsDep) -> BlocklistOut:
    """The artists and tracks none of my playlists ever holds (new or refreshed), newest first."""
    return blocklists.read(user.id)


@listener_router.get(
    "/blocklist/artists/{artist_id}",
    response_model=BlockedArtist,
    responses=_ME_ERRORS,
    summary="Is this artist blocked?",
)
def my_blocked_artist(
    artist_id: ArtistId, user: CurrentUser, blocklists: UserBlocklistsDep
) -> BlockedArtist | BlockedTrack:
    """The blocked artist; 404 when it is not blocked or not in the catalog."""
    return blocklists.entry(user.id, "artist", artist_id)


@listener_router.put(
    "/blocklist/artists/{artist_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Block an artist"
)
def block_artist(artist_id: ArtistId, user: CurrentUser, blocklists: UserBlocklistsDep) -> Response:
    """None of my playlists holds this artist's tracks from now on (idempotent); 404 for an unknown artist."""
    blocklists.block(user.id, "artist", artist_id)
    return Response(status_code=NO_CONTENT)


@listener_router.delete(
    "/blocklist/artists/{artist_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Unblock an artist"
)
def unblock_artist(artist_id: ArtistId, user: CurrentUser, blocklists: UserBlocklistsDep) -> Response:
    """Take the artist off my blocklist (idempotent); 404 for an unknown artist."""
    blocklists.block(user.id, "artist", artist_id, on=False)
    return Response(status_code=NO_CONTENT)


@listener_router.get(
    "/blocklist/tracks/{track_id}", response_model=BlockedTrack, responses=_ME_ERRORS, summary="Is this track blocked?"
)
def my_blocked_track(
    track_id: TrackId, user: CurrentUser, blocklists: UserBlocklistsDep
) -> BlockedArtist | BlockedTrack:
    """The blocked track; 404 when it is not blocked or not in the catalog."""
    return blocklists.entry(user.id, "track", track_id)


@listener_router.put(
    "/blocklist/tracks/{track_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Block a track"
)
def block_track(track_id: TrackId, user: CurrentUser, blocklists: UserBlocklistsDep) -> Response:
    """None of my playlists holds this track from now on (idempotent); 404 for an unknown track."""
    blocklists.block(user.id, "track", track_id)
    return Response(status_code=NO_CONTENT)


@listener_router.delete(
    "/blocklist/tracks/{track_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Unblock a track"
)
def unblock_track(track_id: TrackId, user: CurrentUser, blocklists: UserBlocklistsDep) -> Response:
    """Take the track off my blocklist (idempotent); 404 for an unknown track."""
    blocklists.block(user.id, "track", track_id, on=False)
    return Response(status_code=NO_CONTENT)


@listener_router.get(
    "/heard", response_model=HeardPage, responses={401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}, summary="Heard"
)
def my_heard(user: CurrentUser, playlists: PlaylistServiceDep, page: PageDep) -> HeardPage:
    """The tracks I marked heard, newest first: none of my new or refreshed playlists serves them again."""
    return playlists.heard(user, page)


@listener_router.put("/heard/{track_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Mark heard")
def mark_heard(track_id: TrackId, user: CurrentUser, playlists: PlaylistServiceDep) -> Response:
    """Mark a track heard (idempotent): my new and refreshed playlists leave it out unless I keep it in one;
    404 for an unknown track."""
    playlists.mark_heard(track_id, user)
    return Response(status_code=NO_CONTENT)


@listener_router.delete("/heard/{track_id}", status_code=NO_CONTENT, responses=_ME_ERRORS, summary="Unmark heard")
def unmark_heard(track_id: TrackId, user: CurrentUser, playlists: PlaylistServiceDep) -> Response:
    """Take the heard mark off a track (idempotent); 404 for an unknown track."""
    playlists.mark_heard(track_id, user, on=False)
    return Response(status_code=NO_CONTENT)
