"""Library track rules: text search with a genre facet, a track's detail (tags from the served index, when one
is), and where its audio is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import structlog
from fastapi import Depends, Request

from api.common import Page
from api.db.models import Track
from api.deps import OptionalIndexDep, SessionDep
from api.errors import NotFound, ServiceUnavailable, Unprocessable
from api.tracks.repository import TrackRepository
from api.tracks.schemas import (
    FacetCount,
    GenreRef,
    PathTrack,
    SonicPathOut,
    TextMatch,
    TextSearchOut,
    TrackBrief,
    TrackDetail,
    TrackPage,
    TrackTagsOut,
)
from api.tracks.search_cache import SearchCache
from api.tracks.text_search import TextSearchState
from discovery.flow import slerp, sonic_path
from discovery.vectors import unit_rows
from indexing.milvus_index import TrackIndex
from museed.vocab import VOCAB_AXES

log = structlog.get_logger("museed.tracks")
#: words per search query
MAX_TERMS = 8
#: text matches a search counts (its total and genre facet) before it stops and says so: a common word in a large
#: library ("the" in half of 90,000 tracks) is counted over its first this many matches by track id
SEARCH_COUNT_CAP = 2000
#: the tag fields a track's detail shows (index fields of the tagged axes; TrackTagsOut's fields)
TAG_FIELDS = tuple(a.milvus_field for a in VOCAB_AXES)
#: the media type of a library audio file, by its suffix
AUDIO_MEDIA_TYPES = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
}
#: tracks in a sonic path, both ends included
MIN_PATH_STEPS, MAX_PATH_STEPS = 2, 50
#: library tracks fetched around each point of a path beyond the path's length (a hit can lack catalog metadata)
PATH_OVERFETCH = 4


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

    def __init__(
        self,
        repo: TrackRepository,
        index: TrackIndex | None = None,
        search_cache: SearchCache[TrackPage] | None = None,
    ) -> None:
        self.repo = repo
        self.index = index
        self.search_cache = search_cache

    def search(self, q: str, genre: str | None, page: Page) -> TrackPage:
        """Tracks whose title, artist or album hold every word of `q`, within `genre`, with the total and the
        genre facet of the text matches (from the process's `SearchCache` when the same search was answered
        within its TTL: matching is case-insensitive, so is the key)."""
        terms = q.split()
        if len(terms) > MAX_TERMS:
            raise Unprocessable(f"at most {MAX_TERMS} search words")
        key = (tuple(t.lower() for t in terms), genre, page.limit, page.offset, SEARCH_COUNT_CAP)
        if self.search_cache is not None and (kept := self.search_cache.get(key)) is not None:
            return kept
        rows, total, facets, lower_bound, counted = self.repo.search(
            terms, genre=genre, limit=page.limit, offset=page.offset, count_cap=SEARCH_COUNT_CAP
        )
        answer = TrackPage.of(
            page,
            [brief(t) for t in rows],
            total,
            facets={"genre_top": [FacetCount(value=g, count=n) for g, n in facets]},
            total_is_lower_bound=lower_bound,
            facets_counted_up_to=counted,
        )
        if self.search_cache is not None:
            self.search_cache.put(key, answer)
        return answer

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

    def sonic_path(self, start_id: int, end_id: int, steps: int) -> SonicPathOut:
        """`steps` library tracks from `start_id` to `end_id` (both included): for each point of the great circle
        between the two, the served index's nearest tracks are fetched (enough that the nearest unused one is
        always among them), and `discovery.flow.sonic_path` picks one per point. 404 for unknown tracks, 422 for
        the same track twice, an unembedded end or a library too small."""
        if self.index is None:
            raise ServiceUnavailable("the vector index is not available (Milvus is unreachable or no index is built)")
        if not MIN_PATH_STEPS <= steps <= MAX_PATH_STEPS:
            raise Unprocessable(f"steps must be {MIN_PATH_STEPS}..{MAX_PATH_STEPS}")
        if start_id == end_id:
            raise Unprocessable("a path needs two different tracks", reason="same_track")
        ends = self.repo.by_ids([start_id, end_id])
        for t in (start_id, end_id):
            if t not in ends:
                raise NotFound(f"no track {t}")
        rows = self.index.get_vectors([start_id, end_id])
        missing = [t for t in (start_id, end_id) if t not in rows]
        if missing:
            raise Unprocessable(
                f"tracks without an embedding (their audio could not be decoded or was not embedded): {missing}",
                unembedded_track_ids=missing,
            )
        a, b = (unit_rows(np.asarray(rows[t], dtype=np.float64))[0] for t in (start_id, end_id))
        served = self.index.served_identity()
        plan = self.index.current_plan()
        found: dict[int, None] = {}
        # the nearest unused track of a point is among its `steps` nearest (at most steps - 2 are used before it)
        for point in _great_circle(a, b, steps)[1:-1]:
            hits = self.index.search(
                point.astype(np.float32), k=steps + PATH_OVERFETCH, exclude_ids=[start_id, end_id], plan=plan
            )
            found.update(dict.fromkeys(h.track_id for h in hits))
        catalog = self.repo.by_ids(list(found))
        vectors = self.index.get_vectors([t for t in found if t in catalog])
        ids = [start_id, end_id, *[t for t in found if t in vectors]]
        library = np.stack([a, b, *[np.asarray(vectors[t], dtype=np.float64) for t in ids[2:]]])
        try:
            order = sonic_path(library, 0, 1, steps)
        except ValueError as exc:  # fewer library tracks than steps
            raise Unprocessable(str(exc), reason="library_too_small") from exc
        x = unit_rows(library)
        tracks = {**catalog, **ends}
        out = []
        for position, row in enumerate(order):
            previous = float(x[row] @ x[order[position - 1]]) if position else None
            out.append(
                PathTrack(
                    **brief(tracks[ids[row]]).model_dump(),
                    position=position,
                    similarity_to_start=round(float(x[row] @ x[0]), 6),
                    similarity_to_end=round(float(x[row] @ x[1]), 6),
                    similarity_to_previous=None if previous is None else round(previous, 6),
                )
            )
        return SonicPathOut(
            from_track_id=start_id,
            to_track_id=end_id,
            steps=len(out),
            encoder_id=served["encoder_id"],
            index_version=served["collection"],
            candidates=len(ids),
            tracks=out,
        )

    def text_search(self, text: TextSearchState, q: str, count: int) -> TextSearchOut:
        """The `count` library tracks whose MuLan audio vectors are nearest the prompt `q` in the MuQ-MuLan text
        tower's space; 501 `text_search_unavailable` where this server has no text tower or MuLan vectors."""
        index = text.require()
        prompt = " ".join(q.split())
        if not prompt:
            raise Unprocessable("the prompt is empty", reason="empty_prompt")
        matches: list[TextMatch] = []
        exclude: list[int] = []
        # tracks of the vector set missing from the catalog are skipped: ask again for the difference, a few times
        for _ in range(3):
            hits = index.search(prompt, count + 10 - len(matches), exclude)
            rows = self.repo.by_ids([t for t, _ in hits])
            for t, score in hits:
                exclude.append(t)
                if t in rows and len(matches) < count:
                    matches.append(TextMatch(**brief(rows[t]).model_dump(), rank=len(matches), score=round(score, 6)))
            if len(matches) >= count or len(hits) < count:
                break
        return TextSearchOut(
            query=prompt,
            encoder_id=index.tower.encoder_id,
            vector_set_id=index.vector_set_id,
            count=len(matches),
            results=matches,
        )

    def _track(self, track_id: int) -> Track:
        track = self.repo.get(track_id)
        if track is None:
            raise NotFound(f"no track {track_id}")
        return track


def _great_circle(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    """`n` unit vectors evenly spaced on the great circle from `a` to `b` (both included): the points
    `sonic_path` steps along, by its own interpolation."""
    return [slerp(a, b, float(t)) for t in np.linspace(0.0, 1.0, n)]


async def get_track_service(request: Request, session: SessionDep, index: OptionalIndexDep) -> TrackService:
    """The request's library service (with the served index, when there is one, and the process's search cache)."""
    return TrackService(TrackRepository(session), index, getattr(request.app.state, "search_cache", None))


TrackServiceDep = Annotated[TrackService, Depends(get_track_service)]
