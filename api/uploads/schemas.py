"""Response bodies of the upload endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class UploadOut(BaseModel):
    """A stored upload ("my track")."""

    id: str
    filename: str
    size_bytes: int
    duration_seconds: float
    encoder_id: str
    created_at: datetime
