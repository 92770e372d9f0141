"""Account rules: sign-up, login with throttling, refresh-token rotation with reuse detection, profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Depends
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from api.db.models import RefreshToken, User
from api.deps import RateLimiterDep, SessionDep, SettingsDep
from api.errors import Conflict, NotFound, TooManyRequests, Unauthorized, Unprocessable
from api.ratelimit import RateLimiter
from api.security import (
    TokenError,
    decode_token,
    hash_password,
    issue_access_token,
    issue_refresh_token,
    needs_rehash,
    verify_password,
)
from api.users.repository import UserRepository
from api.users.schemas import AccountDeletion, Login, OwnProfile, ProfileUpdate, PublicProfile, SignUp, TokenPair
from museed.settings import Settings

log = structlog.get_logger("museed.users")
# verified against when the email is unknown, so both failure paths cost one Argon2 verification
_DUMMY_HASH = hash_password("not-a-real-password-museed")


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: it leaked, so every session of its user ends, and that stays ended
    although the request fails."""

    keeps_changes = True


def own_profile(user: User) -> OwnProfile:
    """The account owner's view."""
    return OwnProfile(
        id=user.id, display_name=user.display_name, bio=user.bio, created_at=user.created_at, email=user.email
    )


def public_profile(user: User) -> PublicProfile:
    """Everyone's view (no email)."""
    return PublicProfile(id=user.id, display_name=user.display_name, bio=user.bio, created_at=user.created_at)


class UserService:
    """Accounts and sessions."""

    def __init__(self, repo: UserRepository, settings: Settings, limiter: RateLimiter) -> None:
        self.repo = repo
        self.settings = settings
        self.limiter = limiter

    def sign_up(self, body: SignUp, client: str) -> User:
        """Create an account; Conflict when the email is taken; throttled per client address (every attempt
        counts, so a script can neither mass-create accounts nor probe many emails for a 409)."""
        if not self.limiter.signup_attempt(client):
            retry = self.limiter.signup_retry_after(client)
            raise TooManyRequests(f"too many sign-ups; try again in {retry} s", headers={"Retry-After": str(retry)})
        if self.repo.by_email(body.email) is not None:
            raise Conflict("an account with this email already exists")
        user = User(email=body.email, password_hash=hash_password(body.password), display_name=body.display_name)
        try:
            with self.repo.session.begin_nested():
                self.repo.add(user)
        except IntegrityError as exc:  # a concurrent sign-up with the same email won the race
            raise Conflict("an account with this email already exists") from exc
        log.info("user signed up", user_id=user.id)
        return user

    def login(self, body: Login, client: str) -> TokenPair:
        """Tokens for valid credentials; throttled per (email, client) after repeated failures."""
        key = f"{body.email.strip().lower()}|{client}"
        if not self.limiter.login_allowed(key):
            retry = self.limiter.login_retry_after(key)
            raise TooManyRequests(
                f"too many failed logins; try again in {retry} s", headers={"Retry-After": str(retry)}
            )
        user = self.repo.by_email(body.email.strip().lower())
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, body.password)
        if user is None or not ok:
            self.limiter.login_failed(key)
            raise Unauthorized("wrong email or password")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(body.password)
        return self._issue(user.id)

    def refresh(self, token: str) -> TokenPair:
        """Rotate a refresh token; presenting a revoked one revokes every session of its user."""
        record, claims = self._live_refresh(token)
        now = datetime.now(UTC)
        record.revoked_at = now
        return self._issue(str(claims["sub"]))

    def logout(self, token: str) -> None:
        """Revoke a refresh token (idempotent for the caller's own valid token)."""
        record, _ = self._live_refresh(token)
        record.revoked_at = datetime.now(UTC)

    def profile(self, user_id: str) -> PublicProfile:
        """Anyone's public view of `user_id`; NotFound when there is no such user."""
        user = self.repo.get(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return public_profile(user)

    def update_profile(self, user: User, body: ProfileUpdate) -> User:
        """Change display name and/or bio."""
        if body.display_name is not None:
            name = body.display_name.strip()
            if not name:
                raise Unprocessable("display_name must not be blank")
            user.display_name = name
        if body.bio is not None:
            user.bio = body.bio
        self.repo.session.flush()
        return user

    def delete_account(self, user: User, body: AccountDeletion) -> None:
        """Delete the account and everything that is the person's (see `UserRepository.delete_account`); their
        uploaded files go once the deletion has committed, so a failed transaction loses no file."""
        if not verify_password(user.password_hash, body.password):
            raise Unauthorized("wrong password")
        paths = [Path(p) for p in self.repo.upload_paths(user.id)]
        self.repo.delete_account(user.id)
        session = self.repo.session

        def _remove_files(_: Any) -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        event.listen(session, "after_commit", _remove_files, once=True)
        log.info("account deleted", user_id=user.id, uploads=len(paths))

    def _live_refresh(self, token: str) -> tuple[RefreshToken, dict[str, object]]:
        try:
            claims = decode_token(self.settings, token, "refresh")
        except TokenError as exc:
            raise Unauthorized(str(exc)) from exc
        record = self.repo.refresh(str(claims["jti"]))
        if record is None or record.user_id != claims["sub"]:
            raise Unauthorized("unknown refresh token")
        if record.revoked_at is not None:
            # reuse of a rotated token means it leaked: end every session of this user, and keep that
            self.repo.revoke_all(record.user_id, datetime.now(UTC))
            log.warning("refresh token reuse; all sessions revoked", user_id=record.user_id)
            raise RefreshTokenReused("this refresh token was already used; all sessions have been signed out")
        return record, claims

    def _issue(self, user_id: str) -> TokenPair:
        access = issue_access_token(self.settings, user_id)
        refresh = issue_refresh_token(self.settings, user_id)
        self.repo.add_refresh(RefreshToken(jti=refresh.jti, user_id=user_id, expires_at=refresh.expires_at))
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=self.settings.access_token_minutes * 60,
        )


async def get_user_service(session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep) -> UserService:
    """The request's account service."""
    return UserService(UserRepository(session), settings, limiter)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
