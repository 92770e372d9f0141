"""HTTP routes of the library track domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from api.common import Page, TrackId, page_query
from api.errors import PROBLEM_RESPONSE
from api.tracks.schemas import TrackDetail, TrackPage
from api.tracks.service import TrackServiceDep

router = APIRouter(prefix="/api/tracks", tags=["tracks"])
#: the library is browsed deeper than other lists: larger pages, offsets bounded against runaway scans
LibraryPage = Annotated[Page, Depends(page_query(max_limit=500, max_offset=1_000_000))]


@router.get("", response_model=TrackPage, responses={422: PROBLEM_RESPONSE}, summary="Search the library")
def search_tracks(
    tracks: TrackServiceDep,
    page: LibraryPage,
    q: str = Query(
        default="",
        max_length=200,
        description="words that must all occur (case-insensitive) in the title, artist or album; empty: all",
    ),
    genre: str | None = Query(default=None, max_length=64, description="only this top-level genre"),
) -> TrackPage:
    """Text search over titles, artists and albums with a genre filter, pagination, the total and the genre
    facet (counts per top-level genre of the text matches)."""
    return tracks.search(q, genre, page)


@router.get("/{track_id}", response_model=TrackDetail, responses={404: PROBLEM_RESPONSE}, summary="One track")
def get_track(track_id: TrackId, request: Request, tracks: TrackServiceDep) -> TrackDetail:
    """A library track's metadata, genres, tags (from the served index) and audio link."""
    return tracks.detail(track_id, lambda tid: str(request.url_for("track_audio", track_id=tid)))


_AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
}


@router.get(
    "/{track_id}/audio",
    response_class=FileResponse,
    responses={404: PROBLEM_RESPONSE, 206: {"description": "Partial content (Range request)"}},
    summary="Stream a library track (HTTP Range supported)",
)
def track_audio(track_id: TrackId, tracks: TrackServiceDep) -> FileResponse:
    """The track's audio file; browsers seek with `Range: bytes=...` (206 Partial Content)."""
    path = tracks.audio_path(track_id)
    return FileResponse(path, media_type=_AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream"))
