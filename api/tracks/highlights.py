"""Why, and where: a library track compared with another (a playlist result with its seed), computed on demand: the
pooled similarity, the shared and differing tags, and the best-matching segment pairs with their start and end
seconds in both, from the tracks' dense windows (the service's segment store)."""

from __future__ import annotations

from typing import Annotated, Protocol

import numpy as np
from fastapi import Depends, Request

from api.db.models import Track
from api.deps import OptionalIndexDep, SessionDep
from api.errors import NotFound, ServiceUnavailable, Unauthorized, Unprocessable
from api.tracks.repository import TrackRepository
from api.tracks.schemas import SegmentPairOut, TagDifference, TrackComparisonOut
from api.tracks.service import brief
from discovery.vectors import unit_rows
from discovery.why import Segments, compare_tags, segment_matches
from embedding.audio import AudioError
from embedding.segments import TrackWindows, WindowPolicy
from indexing.milvus_index import TrackIndex
from museed.vocab import TAG_AXES

#: the index fields a comparison reads: the pooled vector and every tag axis (genre included)
COMPARE_FIELDS = ("vector", *(a.milvus_field for a in TAG_AXES))


class WindowStore(Protocol):
    """What highlights need from the store of library windows (`embedding.segments.SegmentStore`)."""

    policy: WindowPolicy

    def get(self, track_id: int) -> TrackWindows | None:
        """A track's stored windows, or None when they were never embedded."""
        ...


class WindowSource(Protocol):
    """What highlights need from the service's encoder (the upload embedder of `api.uploads` provides it)."""

    segments: WindowStore

    def track_windows(self, track_id: int, audio_path: str) -> TrackWindows:
        """A library track's dense windows (stored, or embedded now under the encoder's concurrency limit)."""
        ...


class HighlightService:
    """Compares two library tracks: tags, pooled similarity and where their segments match."""

    def __init__(self, repo: TrackRepository, index: TrackIndex | None, windows: WindowSource | None) -> None:
        self.repo = repo
        self.index = index
        self.windows = windows

    def compare(self, track_id: int, other_id: int, top: int, may_embed: bool) -> TrackComparisonOut:
        """`track_id` (a seed) against `other_id` (a result): NotFound for an unknown track or one whose audio
        is absent, 422 for audio that cannot be decoded, 503 without an encoder or with a busy one, 401 when a
        track's windows are not stored yet and the caller may not embed them (`may_embed`: signed in)."""
        track, other = self._track(track_id), self._track(other_id)
        if self.windows is None:
            raise ServiceUnavailable("no audio encoder is loaded in this service; highlights are unavailable")
        if not may_embed:
            # embedding a cold track holds an encoder slot for seconds: anonymous callers get stored windows only
            for t in (track, other):
                if self.windows.segments.get(t.track_id) is None:
                    raise Unauthorized(
                        f"track {t.track_id} has not been analysed yet; sign in to compare it",
                        reason="sign_in_required",
                    )
        segments = [self._segments(t.track_id, str(t.audio_path)) for t in (track, other)]
        rows = self.index.get_rows([track_id, other_id], fields=COMPARE_FIELDS) if self.index is not None else {}
        tags_a = rows.get(track_id) or {"genre_top": track.genre_top}
        tags_b = rows.get(other_id) or {"genre_top": other.genre_top}
        similarity = None
        if track_id in rows and other_id in rows:
            a, b = unit_rows(np.stack([rows[track_id]["vector"], rows[other_id]["vector"]]))
            similarity = round(float(a @ b), 4)
        tags = compare_tags(tags_a, tags_b)
        policy = self.windows.segments.policy
        return TrackComparisonOut(
            track=brief(track),
            other=brief(other),
            similarity=similarity,
            shared_tags=tags.shared,
            differing_tags={k: TagDifference(track=a, other=b) for k, (a, b) in tags.differing.items()},
            why=tags.phrases(),
            window_seconds=policy.window_seconds,
            hop_seconds=policy.hop_seconds,
            segments=[
                SegmentPairOut(
                    track_start=m.seed_start,
                    track_end=m.seed_end,
                    other_start=m.result_start,
                    other_end=m.result_end,
                    similarity=round(m.similarity, 4),
                )
                for m in segment_matches(segments[0], segments[1], top=top)
            ],
        )

    def _track(self, track_id: int) -> Track:
        track = self.repo.get(track_id)
        if track is None:
            raise NotFound(f"no track {track_id}")
        if not track.audio_path:
            raise NotFound(f"track {track_id} has no audio file in this library")
        return track

    def _segments(self, track_id: int, audio_path: str) -> Segments:
        assert self.windows is not None
        try:
            found = self.windows.track_windows(track_id, audio_path)
        except AudioError as exc:
            if exc.reason == "missing":
                raise NotFound(f"track {track_id} has no audio file in this library") from None
            raise Unprocessable(f"cannot use the audio of track {track_id}: {exc}", reason=exc.reason) from exc
        return Segments(found.vectors, found.starts, found.ends)


async def get_window_source(request: Request) -> WindowSource | None:
    """The service's encoder with its segment store (None when no encoder is loaded)."""
    source: WindowSource | None = getattr(request.app.state, "upload_embedder", None)
    return source


async def get_highlight_service(
    session: SessionDep,
    index: OptionalIndexDep,
    windows: Annotated[WindowSource | None, Depends(get_window_source)],
) -> HighlightService:
    """The request's highlight service."""
    return HighlightService(TrackRepository(session), index, windows)


HighlightServiceDep = Annotated[HighlightService, Depends(get_highlight_service)]
