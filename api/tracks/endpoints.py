"""HTTP routes of the library track domain."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from api.deps import OptionalIndexDep, SessionDep
from api.errors import PROBLEM_RESPONSE, NotFound, Unprocessable
from api.playlists.service import brief
from api.tracks.repository import TrackRepository
from api.tracks.schemas import FacetCount, GenreRef, TrackDetail, TrackPage, TrackTagsOut

router = APIRouter(prefix="/api/tracks", tags=["tracks"])
log = structlog.get_logger("museed.tracks")
#: words per search query
MAX_TERMS = 8
TAG_FIELDS = ("mood_style", "energy", "valence", "source")


@router.get("", response_model=TrackPage, responses={422: PROBLEM_RESPONSE}, summary="Search the library")
def search_tracks(
    session: SessionDep,
    q: str = Query(
        default="",
        max_length=200,
        description="words that must all occur (case-insensitive) in the title, artist or album; empty: all",
    ),
    genre: str | None = Query(default=None, max_length=64, description="only this top-level genre"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> TrackPage:
    """Text search over titles, artists and albums with a genre filter, pagination, the total and the genre
    facet (counts per top-level genre of the text matches)."""
    terms = q.split()
    if len(terms) > MAX_TERMS:
        raise Unprocessable(f"at most {MAX_TERMS} search words")
    rows, total, facets = TrackRepository(session).search(terms, genre=genre, limit=limit, offset=offset)
    return TrackPage(
        total=total,
        limit=limit,
        offset=offset,
        items=[brief(t) for t in rows],
        facets={"genre_top": [FacetCount(value=g, count=n) for g, n in facets]},
    )


@router.get("/{track_id}", response_model=TrackDetail, responses={404: PROBLEM_RESPONSE}, summary="One track")
def get_track(track_id: int, request: Request, session: SessionDep, index: OptionalIndexDep) -> TrackDetail:
    """A library track's metadata, genres, tags (from the served index) and audio link."""
    repo = TrackRepository(session)
    track = repo.get(track_id)
    if track is None:
        raise NotFound(f"no track {track_id}")
    embedded: bool | None = None
    tags = None
    if index is not None:
        try:
            row = index.get_rows([track_id], fields=TAG_FIELDS).get(track_id)
        except Exception as exc:  # catalog reads must not fail with the index
            log.warning("track tags unavailable", track_id=track_id, error=str(exc))
        else:
            embedded = row is not None
            if row is not None and any(row.get(f) for f in TAG_FIELDS):
                tags = TrackTagsOut(**{f: row.get(f) for f in TAG_FIELDS})
    has_audio = bool(track.audio_path) and Path(str(track.audio_path)).is_file()
    return TrackDetail(
        **brief(track).model_dump(),
        genres=[GenreRef(genre_id=g.genre_id, title=g.title) for g in repo.genres(track.genres_all or [])],
        license=track.license,
        audio_url=str(request.url_for("track_audio", track_id=track_id)) if has_audio else None,
        embedded=embedded,
        tags=tags,
    )


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
