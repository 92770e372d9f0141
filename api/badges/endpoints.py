"""HTTP routes of badges, the genre mix (pie chart) and the avatar."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.badges.schemas import Badge, GenreShare
from api.badges.service import BadgeServiceDep
from api.common import UserId
from api.deps import Viewer
from api.errors import PROBLEM_RESPONSE

router = APIRouter(prefix="/api/users", tags=["profile"])


@router.get("/{user_id}/badges", response_model=list[Badge], responses={404: PROBLEM_RESPONSE}, summary="Badges")
def badges(user_id: UserId, badges: BadgeServiceDep) -> list[Badge]:
    """The user's badges, oldest first."""
    return badges.badges(user_id)


@router.get(
    "/{user_id}/genres",
    response_model=list[GenreShare],
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE},
    summary="Genre mix",
)
def genres(user_id: UserId, viewer: Viewer, badges: BadgeServiceDep) -> list[GenreShare]:
    """Tracks per top-level genre over the user's playlists (the pie chart): all playlists for the owner,
    public ones for everybody else."""
    return badges.genre_mix_for(user_id, viewer)


@router.get(
    "/{user_id}/avatar.svg",
    responses={404: PROBLEM_RESPONSE, 200: {"content": {"image/svg+xml": {}}}},
    summary="Genre avatar",
)
def avatar(user_id: UserId, badges: BadgeServiceDep) -> Response:
    """A deterministic SVG from the user's public genre mix: it changes as their published playlists change."""
    return Response(badges.avatar(user_id), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})
