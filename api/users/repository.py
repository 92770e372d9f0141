"""SQL for users and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.db.models import RefreshToken, User


class UserRepository:
    """The only place that touches the account tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_email(self, email: str) -> User | None:
        """The user with this (lower-cased) email."""
        return self.session.scalars(select(User).where(User.email == email)).one_or_none()

    def get(self, user_id: str) -> User | None:
        """A user by id."""
        return self.session.get(User, user_id)

    def add(self, user: User) -> User:
        """Stage a new user."""
        self.session.add(user)
        self.session.flush()
        return user

    def add_refresh(self, token: RefreshToken) -> None:
        """Record an issued refresh token."""
        self.session.add(token)
        self.session.flush()

    def refresh(self, jti: str) -> RefreshToken | None:
        """A refresh token record, locked for update so two rotations cannot both succeed."""
        return self.session.scalars(select(RefreshToken).where(RefreshToken.jti == jti).with_for_update()).one_or_none()

    def revoke_all(self, user_id: str, when: datetime) -> None:
        """Revoke every live refresh token of a user (token reuse detected)."""
        self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )
