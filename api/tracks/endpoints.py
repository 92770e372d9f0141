"""HTTP routes of the library track domain."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from api.db.models import Track
from api.deps import SessionDep
from api.errors import PROBLEM_RESPONSE, NotFound
from api.playlists.schemas import TrackBrief
from api.playlists.service import brief
from api.tracks.repository import TrackRepository

router = APIRouter(prefix="/api/tracks", tags=["tracks"])


@router.get("", response_model=list[TrackBrief], summary="List library tracks")
def list_tracks(
    session: SessionDep,
    genre: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[TrackBrief]:
    """Tracks ordered by id, optionally of one top-level genre."""
    rows: list[Track] = TrackRepository(session).list(genre=genre, limit=limit, offset=offset)
    return [brief(t) for t in rows]


@router.get("/{track_id}", response_model=TrackBrief, responses={404: PROBLEM_RESPONSE}, summary="One track")
def get_track(track_id: int, session: SessionDep) -> TrackBrief:
    """A library track's metadata."""
    track = TrackRepository(session).get(track_id)
    if track is None:
        raise NotFound(f"no track {track_id}")
    return brief(track)


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
def track_audio(track_id: int, session: SessionDep) -> FileResponse:
    """The track's audio file; browsers seek with `Range: bytes=...` (206 Partial Content)."""
    track = TrackRepository(session).get(track_id)
    if track is None:
        raise NotFound(f"no track {track_id}")
    if not track.audio_path or not Path(track.audio_path).is_file():
        raise NotFound(f"track {track_id} has no audio file in this library")
    path = Path(track.audio_path)
    return FileResponse(path, media_type=_AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream"))
