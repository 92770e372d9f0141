"""The database side of `museed doctor`: which library tracks have audio, and which upload files the rows name."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Track, Upload


def library_track_ids(session: Session) -> tuple[set[int], set[int]]:
    """(every library track id, the ids of those with an audio file: the ones an index should hold)."""
    rows = session.execute(select(Track.track_id, Track.audio_path)).all()
    return {int(t) for t, _ in rows}, {int(t) for t, path in rows if path}


def upload_files(session: Session) -> dict[str, Path]:
    """upload id -> the file its row names."""
    return {uid: Path(path) for uid, path in session.execute(select(Upload.id, Upload.stored_path)).all()}
