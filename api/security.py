"""Password hashing (Argon2id) and JWT access/refresh tokens (PyJWT, HS256)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from museed.settings import Settings

_hasher = PasswordHasher()  # argon2-cffi defaults: Argon2id, RFC 9106 low-memory profile
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and its claims that the server keeps."""

    token: str
    jti: str
    expires_at: datetime


def _issue(settings: Settings, user_id: str, kind: str, lifetime: timedelta) -> IssuedToken:
    now = datetime.now(UTC)
    jti = uuid.uuid4().hex
    claims = {"sub": user_id, "typ": kind, "jti": jti, "iat": now, "exp": now + lifetime}
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)
    return IssuedToken(token=token, jti=jti, expires_at=now + lifetime)


def issue_access_token(settings: Settings, user_id: str) -> IssuedToken:
    """A short-lived bearer token for API calls."""
    return _issue(settings, user_id, "access", timedelta(minutes=settings.access_token_minutes))


def issue_refresh_token(settings: Settings, user_id: str) -> IssuedToken:
    """A long-lived token that only buys new access tokens (and is rotated on use)."""
    return _issue(settings, user_id, "refresh", timedelta(days=settings.refresh_token_days))


class TokenError(ValueError):
    """A token is malformed, expired, of the wrong type or badly signed."""


def decode_token(settings: Settings, token: str, kind: str) -> dict[str, Any]:
    """Verified claims of `token`; TokenError when it is not a valid token of `kind`."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "typ", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("the token is not valid") from exc
    if claims.get("typ") != kind:
        raise TokenError(f"a {kind} token is required")
    return claims
