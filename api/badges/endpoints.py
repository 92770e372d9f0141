"""HTTP routes of badges, the genre mix (pie chart) and the avatar."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.badges.repository import BadgeRepository
from api.badges.service import Badge, BadgeService, GenreShare, avatar_svg
from api.deps import SessionDep
from api.errors import PROBLEM_RESPONSE, NotFound
from api.playlists.endpoints import Viewer
from api.social.endpoints import UserId
from api.users.repository import UserRepository

router = APIRouter(prefix="/api/users", tags=["profile"])


def _existing(session: SessionDep, user_id: str) -> None:
    if UserRepository(session).get(user_id) is None:
        raise NotFound(f"no user {user_id!r}")


@router.get("/{user_id}/badges", response_model=list[Badge], responses={404: PROBLEM_RESPONSE}, summary="Badges")
def badges(user_id: UserId, session: SessionDep) -> list[Badge]:
    """The user's badges, oldest first."""
    _existing(session, user_id)
    return BadgeService(BadgeRepository(session)).badges(user_id)


@router.get(
    "/{user_id}/genres",
    response_model=list[GenreShare],
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE},
    summary="Genre mix",
)
def genres(user_id: UserId, session: SessionDep, viewer: Viewer) -> list[GenreShare]:
    """Tracks per top-level genre over the user's playlists (the pie chart): all playlists for the owner,
    public ones for everybody else."""
    _existing(session, user_id)
    own = viewer is not None and viewer.id == user_id
    return BadgeService(BadgeRepository(session)).genre_mix(user_id, public_only=not own)


@router.get(
    "/{user_id}/avatar.svg",
    responses={404: PROBLEM_RESPONSE, 200: {"content": {"image/svg+xml": {}}}},
    summary="Genre avatar",
)
def avatar(user_id: UserId, session: SessionDep) -> Response:
    """A deterministic SVG from the user's public genre mix: it changes as their published playlists change."""
    _existing(session, user_id)
    mix = BadgeService(BadgeRepository(session)).genre_mix(user_id, public_only=True)
    return Response(avatar_svg(user_id, mix), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})
