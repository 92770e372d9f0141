"""HTTP routes of accounts and profiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.deps import CurrentUser
from api.errors import PROBLEM_RESPONSE
from api.users.schemas import (
    AccountDeletion,
    Login,
    OwnProfile,
    ProfileUpdate,
    PublicProfile,
    RefreshRequest,
    SignUp,
    TokenPair,
)
from api.users.service import UserServiceDep, own_profile

auth_router = APIRouter(prefix="/api/auth", tags=["auth"])
users_router = APIRouter(prefix="/api/users", tags=["users"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}


def _client(request: Request) -> str:
    """The client's address, the throttles' key: uvicorn puts a trusted proxy's X-Forwarded-For here
    (`FORWARDED_ALLOW_IPS`, docs/SECURITY.md API2)."""
    return request.client.host if request.client else "unknown"


@auth_router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=OwnProfile,
    responses={409: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 429: PROBLEM_RESPONSE},
    summary="Create an account",
)
def signup(body: SignUp, request: Request, users: UserServiceDep) -> OwnProfile:
    """Create an account (password hashed with Argon2id); sign in with POST /api/auth/login. Sign-ups from one
    address are throttled (429, Retry-After)."""
    return own_profile(users.sign_up(body, _client(request)))


@auth_router.post(
    "/login",
    response_model=TokenPair,
    responses={**_AUTH_ERRORS, 429: PROBLEM_RESPONSE},
    summary="Sign in: access + refresh tokens",
)
def login(body: Login, request: Request, users: UserServiceDep) -> TokenPair:
    """A short-lived access token and a refresh token; repeated failures are throttled (429, Retry-After)."""
    return users.login(body, _client(request))


@auth_router.post("/refresh", response_model=TokenPair, responses=_AUTH_ERRORS, summary="Rotate tokens")
def refresh(body: RefreshRequest, users: UserServiceDep) -> TokenPair:
    """New tokens for a refresh token, which is revoked; replaying a revoked one signs the user out everywhere."""
    return users.refresh(body.refresh_token)


@auth_router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_AUTH_ERRORS, summary="Sign out (revoke)"
)
def logout(body: RefreshRequest, users: UserServiceDep) -> Response:
    """Revoke the refresh token; access tokens expire on their own within minutes."""
    users.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("/me", response_model=OwnProfile, responses={401: PROBLEM_RESPONSE}, summary="My profile")
def me(user: CurrentUser) -> OwnProfile:
    """The signed-in user's profile."""
    return own_profile(user)


@users_router.patch(
    "/me", response_model=OwnProfile, responses=_AUTH_ERRORS, summary="Edit my profile (display name, bio)"
)
def update_me(body: ProfileUpdate, user: CurrentUser, users: UserServiceDep) -> OwnProfile:
    """Change display name and/or bio."""
    return own_profile(users.update_profile(user, body))


@users_router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_AUTH_ERRORS,
    summary="Delete my account and everything that is mine",
)
def delete_me(body: AccountDeletion, user: CurrentUser, users: UserServiceDep) -> Response:
    """Playlists, likes, saves, follows, badges, tastes, uploads (and their files), sessions and organisation
    memberships go with the account; likes it gave come off others' like counts. The password is asked again."""
    users.delete_account(user, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get(
    "/{user_id}",
    response_model=PublicProfile,
    responses={404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
    summary="A user's public profile",
)
def get_user(user_id: str, users: UserServiceDep) -> PublicProfile:
    """Display name, bio and join date; never the email."""
    # a plain str (not common.UserId) as always: a malformed id is a 404 here, not a 422
    return users.profile(user_id)
