"""HTTP routes of the playlist domain."""

from __future__ import annotations

from fastapi import APIRouter, Path, status

from api.deps import IndexDep, SessionDep
from api.errors import PROBLEM_RESPONSE
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistCreate, PlaylistOut
from api.playlists.service import PlaylistService

router = APIRouter(prefix="/api/playlists", tags=["playlists"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaylistOut,
    responses={422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Generate a playlist from 1..10 seed tracks",
)
def create_playlist(body: PlaylistCreate, session: SessionDep, index: IndexDep) -> PlaylistOut:
    """Average the seeds' vectors, search the track index (optionally within a genre), drop the seeds,
    join titles/artists/genres from the catalog, store the playlist and return it ordered by similarity."""
    return PlaylistService(PlaylistRepository(session), index).create(body)


@router.get(
    "/{playlist_id}",
    response_model=PlaylistOut,
    responses={404: PROBLEM_RESPONSE},
    summary="Read a stored playlist",
)
def get_playlist(
    session: SessionDep,
    playlist_id: str = Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$"),
) -> PlaylistOut:
    """The playlist as it was generated."""
    return PlaylistService(PlaylistRepository(session)).get(playlist_id)
