"""Library track rules: text search with a genre facet, a track's detail (tags from the served index, when one
is), and where its audio is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import Depends

from api.common import Page
from api.db.models import Track
from api.deps import OptionalIndexDep, SessionDep
from api.errors import NotFound, Unprocessable
from api.tracks.repository import TrackRepository
from api.tracks.schemas import FacetCount, GenreRef, TrackBrief, TrackDetail, TrackPage, TrackTagsOut
from indexing.milvus_index import TrackIndex
from museed.vocab import VOCAB_AXES

log = structlog.get_logger("museed.tracks")
#: words per search query
MAX_TERMS = 8
#: the tag fields a track's detail shows (index fields of the tagged axes; TrackTagsOut's fields)
TAG_FIELDS = tuple(a.milvus_field for a in VOCAB_AXES)


def brief(track: Track) -> TrackBrief:
    """The list view of a track."""
    return TrackBrief(
        track_id=track.track_id,
        title=track.title,
        artist_id=track.artist_id,
        artist=track.artist.name,
        album=track.album_title,
        genre_top=track.genre_top,
        duration_seconds=track.duration_seconds,
    )


class TrackService:
    """Searches and describes library tracks."""

    def __init__(self, repo: TrackRepository, index: TrackIndex | None = None) -> None:
        self.repo = repo
        self.index = index

    def search(self, q: str, genre: str | None, page: Page) -> TrackPage:
        """Tracks whose title, artist or album hold every word of `q`, within `genre`, with the total and the
        genre facet of the text matches."""
        terms = q.split()
        if len(terms) > MAX_TERMS:
            raise Unprocessable(f"at most {MAX_TERMS} search words")
        rows, total, facets = self.repo.search(terms, genre=genre, limit=page.limit, offset=page.offset)
        return TrackPage.of(
            page,
            [brief(t) for t in rows],
            total,
            facets={"genre_top": [FacetCount(value=g, count=n) for g, n in facets]},
        )

    def detail(self, track_id: int, audio_url: Callable[[int], str]) -> TrackDetail:
        """A track's metadata, genres, tags (from the served index) and `audio_url(track_id)` when its audio
        file is there; NotFound for an unknown id."""
        track = self._track(track_id)
        embedded: bool | None = None
        tags = None
        if self.index is not None:
            try:
                row = self.index.get_rows([track_id], fields=TAG_FIELDS).get(track_id)
            except Exception as exc:  # catalog reads must not fail with the index
                log.warning("track tags unavailable", track_id=track_id, error=str(exc))
            else:
                embedded = row is not None
                if row is not None and any(row.get(f) for f in TAG_FIELDS):
                    tags = TrackTagsOut(**{f: row.get(f) for f in TAG_FIELDS})
        has_audio = bool(track.audio_path) and Path(str(track.audio_path)).is_file()
        return TrackDetail(
            **brief(track).model_dump(),
            genres=[GenreRef(genre_id=g.genre_id, title=g.title) for g in self.repo.genres(track.genres_all or [])],
            license=track.license,
            audio_url=audio_url(track_id) if has_audio else None,
            embedded=embedded,
            tags=tags,
        )

    def audio_path(self, track_id: int) -> Path:
        """The track's audio file; NotFound for an unknown track or one without audio in this library."""
        track = self._track(track_id)
        if not track.audio_path or not Path(track.audio_path).is_file():
            raise NotFound(f"track {track_id} has no audio file in this library")
        return Path(track.audio_path)

    def _track(self, track_id: int) -> Track:
        track = self.repo.get(track_id)
        if track is None:
            raise NotFound(f"no track {track_id}")
        return track


def get_track_service(session: SessionDep, index: OptionalIndexDep) -> TrackService:
    """The request's library service (with the served index, when there is one)."""
    return TrackService(TrackRepository(session), index)


TrackServiceDep = Annotated[TrackService, Depends(get_track_service)]
