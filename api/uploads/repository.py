"""SQL for uploads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Upload


class UploadRepository:
    """The only place that touches the uploads table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, upload_id: str) -> Upload | None:
        """An upload by id, whoever owns it."""
        return self.session.get(Upload, upload_id)

    def add(self, upload: Upload) -> Upload:
        """Stage a new upload in the request's transaction."""
        self.session.add(upload)
        self.session.flush()
        return upload

    def owned_by(self, owner_id: str, limit: int, offset: int) -> list[Upload]:
        """A user's uploads, newest first."""
        return list(
            self.session.scalars(
                select(Upload)
                .where(Upload.owner_id == owner_id)
                .order_by(Upload.created_at.desc(), Upload.id)
                .limit(limit)
                .offset(offset)
            )
        )

    def delete(self, upload: Upload) -> None:
        """Delete an upload's row."""
        self.session.delete(upload)
        self.session.flush()
