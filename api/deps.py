"""Request dependencies as `Annotated` aliases: settings, the DB session (owns the transaction), the index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.db.session import transaction
from api.errors import ServiceUnavailable
from indexing.milvus_index import TrackIndex
from museed.settings import Settings, get_settings


def _settings() -> Settings:
    return get_settings()


def get_db(request: Request) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back when it raises."""
    with transaction(request.app.state.session_factory) as session:
        yield session


def get_index(request: Request) -> TrackIndex:
    """The Milvus track index opened at start-up."""
    index = getattr(request.app.state, "track_index", None)
    if index is None:
        raise ServiceUnavailable("the vector index is not available: run `museed index` and restart")
    return index


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
IndexDep = Annotated[TrackIndex, Depends(get_index)]
