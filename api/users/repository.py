"""SQL for users and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api.db.models import Playlist, PlaylistLike, RefreshToken, Upload, User


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

    def upload_paths(self, user_id: str) -> list[str]:
        """Where the user's uploaded audio files lie on disk."""
        return list(self.session.scalars(select(Upload.stored_path).where(Upload.owner_id == user_id)))

    def delete_account(self, user_id: str) -> None:
        """Delete a user and, through the foreign keys' ON DELETE CASCADE, every row that is theirs: playlists
        (and others' likes and saves of them), likes, saves, follows both ways, badges, tastes, uploads,
        refresh tokens and organisation memberships. Likes they gave are first taken off the like counts."""
        liked = select(PlaylistLike.playlist_id).where(PlaylistLike.user_id == user_id)
        self.session.execute(
            update(Playlist)
            .where(Playlist.id.in_(liked))
            .values(like_count=Playlist.like_count - 1, updated_at=Playlist.updated_at)
            .execution_options(synchronize_session=False)
        )
        self.session.execute(delete(User).where(User.id == user_id).execution_options(synchronize_session=False))
        self.session.flush()
