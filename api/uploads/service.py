"""Upload rules: bounded size and duration, decode + embed off the event loop under a concurrency cap, nothing
half-written on failure."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import structlog
from fastapi import Depends, Request

from api.badges.service import BadgeService, BadgeServiceDep
from api.common import Page
from api.db.models import Upload, User
from api.deps import OptionalIndexDep, SessionDep, SettingsDep
from api.errors import NotFound, PayloadTooLarge, ServiceUnavailable, Unprocessable
from api.tracks.repository import TrackRepository
from api.tracks.service import brief
from api.uploads.repository import UploadRepository
from api.uploads.schemas import (
    MatchesOut,
    MatchOut,
    PassageOut,
    ReferenceOut,
    ReferencesOut,
    UploadOut,
    WindowPairOut,
)
from discovery.vectors import unit_rows
from discovery.why import PassageMatch, Segments, find_references
from embedding.audio import AudioError, AudioLimits, load_segments
from embedding.job import SegmentPolicy
from embedding.segments import HOP_FRACTION, SegmentStore, TrackWindows, WindowPolicy, embed_windows, load_windows
from indexing.milvus_index import TrackIndex
from indexing.windows import WindowHit, WindowIndex
from museed.settings import Settings
from museed.vocab import TAG_AXES

log = structlog.get_logger("museed.uploads")
#: library tracks that vote on an upload's genre and tags
ANALYSIS_NEIGHBOURS = 20
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".flac", ".wav", ".m4a", ".aac", ".opus", ".aiff", ".aif"}
#: the tag fields of a search hit that vote, in the public axis order (the same fields "why" names)
ANALYSIS_FIELDS = tuple(a.milvus_field for a in TAG_AXES)
#: library tracks the reference finder compares passage by passage, per reference asked for
SHORTLIST_PER_REFERENCE = 2
#: demo windows whose nearest library track joins the shortlist (spread evenly over the demo)
SHORTLIST_WINDOWS = 32
#: the demo is windowed this many times more densely than the library and compared as that many interleaved grids
#: of the library's hop: one of them sits within hop / (2 x phases) of the lifted passage's offset in the track
DEMO_PHASES = 4
#: upload windows searched in the window index, spread evenly over the upload (a 10-min upload: one every 9.4 s)
MATCH_WINDOWS = 64
#: library windows fetched per searched upload window, per match asked for (a track's own windows crowd the list)
MATCH_CANDIDATES_PER_MATCH = 16


def upload_out(u: Upload) -> UploadOut:
    """The API view of an upload (the row's columns of the same names; the vector and path stay inside)."""
    return UploadOut.model_validate(u, from_attributes=True)


def analyse(index: TrackIndex, vector: list[float], neighbours: int = ANALYSIS_NEIGHBOURS) -> dict[str, Any]:
    """Genre and tags of an upload voted by its `neighbours` nearest library tracks (each axis: the majority
    label among the neighbours that have one, and its share)."""
    hits = index.search(np.asarray(vector, dtype=np.float32), k=neighbours)
    tags: dict[str, dict[str, Any]] = {}
    for axis in ANALYSIS_FIELDS:
        votes = Counter(str(h.fields[axis]) for h in hits if h.fields.get(axis))
        if votes:
            value, n = votes.most_common(1)[0]
            tags[axis] = {"value": value, "share": round(n / sum(votes.values()), 3)}
    return {"method": "neighbour vote", "neighbours": len(hits), "tags": tags}


class UploadEmbedder:
    """Decodes and embeds uploads with the library's encoder and segment policy; at most N at once."""

    def __init__(self, encoder: Any, settings: Settings) -> None:
        self.encoder = encoder
        self.settings = settings
        # the library's segment policy at the encoder's rate, with the upload size limit
        self.policy = replace(
            SegmentPolicy.from_settings(settings, sample_rate=encoder.sample_rate),
            limits=AudioLimits(max_bytes=settings.max_upload_bytes),
        )
        self._slots = threading.BoundedSemaphore(settings.upload_concurrency)
        # dense windows of library tracks (embedded on first use or by `museed windows`, then kept) for references,
        # highlights and the window index
        self.segments = SegmentStore.for_library(settings, encoder)
        # an upload may be longer than the library's read cap: its windows cover all of it
        read_all = replace(self.policy.limits, max_read_seconds=max(settings.max_upload_seconds, 1.0))
        self.demo_windows = WindowPolicy.dense(
            replace(self.policy, limits=read_all), hop_fraction=HOP_FRACTION / DEMO_PHASES
        )

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One of the encoder's `upload_concurrency` slots, or 503 + Retry-After after `upload_wait_seconds`."""
        if not self._slots.acquire(timeout=self.settings.upload_wait_seconds):
            raise ServiceUnavailable("the upload encoder is busy; try again shortly", headers={"Retry-After": "5"})
        try:
            yield
        finally:
            self._slots.release()

    def windows(self, data: bytes) -> TrackWindows:
        """The dense window vectors of an upload (the library's segment length, half of it apart); AudioError
        for audio that cannot be used."""
        with self.slot():
            return embed_windows(self.encoder, load_windows(data, self.demo_windows))

    def track_windows(self, track_id: int, audio_path: str) -> TrackWindows:
        """A library track's dense window vectors: from the segment store, or embedded now under a slot."""
        stored = self.segments.get(track_id)
        if stored is not None:
            return stored
        with self.slot():
            return self.segments.windows(track_id, audio_path)

    def embed(self, data: bytes) -> tuple[list[float], float]:
        """(L2-normalised vector, duration in seconds) of an upload; AudioError for bad audio."""
        with self.slot():
            audio = load_segments(
                data,
                sample_rate=self.policy.sample_rate,
                segment_seconds=self.policy.segment_seconds,
                n_segments=self.policy.n_segments,
                limits=self.policy.limits,
            )
            if audio.duration_seconds > self.settings.max_upload_seconds:
                raise PayloadTooLarge(
                    f"the audio is {audio.duration_seconds:.0f} s long; uploads may be at most "
                    f"{self.settings.max_upload_seconds:.0f} s",
                    reason="too_long",
                )
            vector = self.encoder.embed_tracks([audio.segments])[0]
            return [float(x) for x in vector], float(audio.duration_seconds)

    def embed_file(self, filename: str, data: bytes) -> tuple[list[float], float]:
        """`embed` for an uploaded file: 422 `not_audio` for a name that is not audio, 413 / 422 with the
        decoder's reason for audio that is too large or cannot be used (the B2B audio seeds share these)."""
        suffix = Path(filename).suffix.lower()
        if suffix and suffix not in AUDIO_SUFFIXES:
            raise Unprocessable(
                f"{filename!r} does not look like audio (allowed: {sorted(AUDIO_SUFFIXES)})", reason="not_audio"
            )
        try:
            return self.embed(data)
        except AudioError as exc:
            error = PayloadTooLarge if exc.reason == "too_large" else Unprocessable
            raise error(f"cannot use this audio: {exc}", reason=exc.reason) from exc


class UploadService:
    """Stores, lists and deletes uploads; the one place that says whose upload is whose."""

    def __init__(
        self,
        repo: UploadRepository,
        settings: Settings,
        embedder: UploadEmbedder | None,
        index: TrackIndex | None,
        badges: BadgeService,
        windows: WindowIndex | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.badges = badges
        self.windows = windows

    def create(self, owner: User, filename: str, data: bytes) -> UploadOut:
        """Decode, embed and keep an upload (and award the badges it earns); any failure leaves neither a file
        nor a row behind."""
        if self.embedder is None:
            raise ServiceUnavailable("no audio encoder is loaded in this service; uploads are unavailable")
        suffix = Path(filename).suffix.lower()
        vector, duration = self.embedder.embed_file(filename, data)
        analysis = None
        if self.index is not None:
            try:
                analysis = analyse(self.index, vector)
            except Exception as exc:  # the upload is still usable as a seed; say why it has no analysis
                log.warning("upload analysis failed", error=str(exc))
        upload_id = uuid.uuid4().hex
        folder = self.settings.data_dir / "uploads" / owner.id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{upload_id}{suffix or '.bin'}"
        tmp = folder / f".{upload_id}.part"
        tmp.write_bytes(data)
        os.replace(tmp, path)
        try:
            row = self.repo.add(
                Upload(
                    id=upload_id,
                    owner_id=owner.id,
                    filename=Path(filename).name[:255] or "upload",
                    stored_path=str(path),
                    size_bytes=len(data),
                    duration_seconds=duration,
                    encoder_id=self.embedder.encoder.encoder_id,
                    vector=vector,
                    analysis=analysis,
                )
            )
        except Exception:
            path.unlink(missing_ok=True)  # the row did not make it: do not leave an orphan file
            raise
        log.info("upload stored", upload_id=upload_id, owner=owner.id, seconds=round(duration, 1))
        out = upload_out(row)
        self.badges.evaluate(owner.id)
        return out

    def owned(self, upload_id: str, owner: User) -> Upload:
        """An upload of `owner`; 404 for anyone else's (their existence is not revealed)."""
        row = self.repo.get(upload_id)
        if row is None or row.owner_id != owner.id:
            raise NotFound(f"no upload {upload_id!r}")
        return row

    def references(self, upload_id: str, owner: User, limit: int) -> ReferencesOut:
        """The library tracks closest to the owner's upload (a demo), each with its best-matching passage and a
        near-copy flag. The shortlist is the served index's nearest tracks to the demo's pooled vector and to its
        windows; each shortlisted track's dense windows come from the segment store (embedded on first use)."""
        row = self.owned(upload_id, owner)
        embedder = self._embedder("references")
        if self.index is None:
            raise ServiceUnavailable("no vector index is served; references are unavailable")
        demo = self._upload_windows(row, embedder)
        shortlist = self._shortlist(row.vector, demo, SHORTLIST_PER_REFERENCE * limit)
        tracks = TrackRepository(self.repo.session)
        library: list[tuple[int, Segments]] = []
        briefs = {}
        unavailable: list[int] = []
        for track_id in shortlist:
            track = tracks.get(track_id)
            if track is None or not track.audio_path:
                unavailable.append(track_id)
                continue
            try:
                found = embedder.track_windows(track_id, track.audio_path)
            except AudioError as exc:  # a missing or broken library file costs one candidate, not the answer
                log.warning("reference track unusable", track_id=track_id, reason=exc.reason)
                unavailable.append(track_id)
                continue
            library.append((track_id, Segments(found.vectors, found.starts, found.ends)))
            briefs[track_id] = brief(track)
        matches = _references(demo, library, limit, self.settings.near_copy_cosine)
        policy = embedder.segments.policy
        return ReferencesOut(
            upload_id=row.id,
            encoder_id=row.encoder_id,
            window_seconds=policy.window_seconds,
            hop_seconds=policy.hop_seconds,
            demo_hop_seconds=embedder.demo_windows.hop_seconds,
            near_copy_threshold=self.settings.near_copy_cosine,
            shortlisted=len(shortlist),
            unavailable_track_ids=unavailable,
            references=[
                ReferenceOut(
                    track=briefs[m.track_id],
                    similarity=round(m.peak_similarity, 4),
                    near_copy=m.near_copy,
                    passage=PassageOut(
                        demo_start=m.passage.seed_start,
                        demo_end=m.passage.seed_end,
                        track_start=m.passage.result_start,
                        track_end=m.passage.result_end,
                        similarity=round(m.passage.similarity, 4),
                    ),
                )
                for m in matches
            ],
        )

    def matches(self, upload_id: str, owner: User, limit: int) -> MatchesOut:
        """Which library recording the owner's upload is taken from: up to `MATCH_WINDOWS` of its dense windows
        are searched in the window index (every window of every library track, `museed windows`), each hit
        counts for its track, and tracks are ranked by their best window pair (where it lies in both is
        returned). 503 `no_window_index` when the index for the served encoder was never filled."""
        row = self.owned(upload_id, owner)
        embedder = self._embedder("matches")
        if self.windows is None or not self.windows.ensure_loaded():
            name = self.windows.name if self.windows is not None else "the window collection"
            raise ServiceUnavailable(
                f"no window index for {embedder.encoder.encoder_id} ({name}) is served: fill it with "
                "`museed windows --fma <root>`; GET /api/uploads/{id}/references compares a shortlist instead",
                reason="no_window_index",
            )
        demo = self._upload_windows(row, embedder)
        picked = _spread(len(demo.vectors), MATCH_WINDOWS)
        hits = self.windows.search(demo.vectors[picked], k=MATCH_CANDIDATES_PER_MATCH * limit)
        best: dict[int, tuple[WindowHit, int]] = {}  # track -> (its best hit, the upload window that found it)
        found_by: Counter[int] = Counter()
        for at, window_hits in zip(picked, hits, strict=True):
            for track_id in {h.track_id for h in window_hits}:
                found_by[track_id] += 1
            for hit in window_hits:
                if hit.track_id not in best or hit.score > best[hit.track_id][0].score:
                    best[hit.track_id] = (hit, int(at))
        tracks = TrackRepository(self.repo.session)
        out: list[MatchOut] = []
        unavailable: list[int] = []
        for track_id, (hit, at) in sorted(best.items(), key=lambda kv: (-kv[1][0].score, kv[0])):
            if len(out) == limit:
                break
            track = tracks.get(track_id)
            if track is None:  # indexed, then removed from the catalog: not an answer
                unavailable.append(track_id)
                continue
            out.append(
                MatchOut(
                    track=brief(track),
                    similarity=round(hit.score, 4),
                    near_copy=hit.score >= self.settings.near_copy_cosine,
                    windows_matched=found_by[track_id],
                    best=WindowPairOut(
                        upload_start=round(float(demo.starts[at]), 3),
                        upload_end=round(float(demo.ends[at]), 3),
                        track_start=round(hit.start, 3),
                        track_end=round(hit.end, 3),
                    ),
                )
            )
        policy = embedder.segments.policy
        return MatchesOut(
            upload_id=row.id,
            encoder_id=row.encoder_id,
            collection=self.windows.name,
            window_seconds=policy.window_seconds,
            hop_seconds=policy.hop_seconds,
            upload_windows_searched=len(picked),
            near_copy_threshold=self.settings.near_copy_cosine,
            unavailable_track_ids=unavailable,
            matches=out,
        )

    def _embedder(self, what: str) -> UploadEmbedder:
        """The upload encoder, or 503 naming what is unavailable without it."""
        if self.embedder is None:
            raise ServiceUnavailable(f"no audio encoder is loaded in this service; {what} are unavailable")
        return self.embedder

    def _upload_windows(self, row: Upload, embedder: UploadEmbedder) -> TrackWindows:
        """The dense windows of a stored upload: 422 `stale_upload` when another encoder embedded it, 404 when its
        audio is gone, 422 with the decoder's reason for audio that cannot be used."""
        if row.encoder_id != embedder.encoder.encoder_id:
            raise Unprocessable(
                f"this upload was embedded with {row.encoder_id}, the service now runs "
                f"{embedder.encoder.encoder_id}: upload it again",
                reason="stale_upload",
            )
        try:
            return embedder.windows(Path(row.stored_path).read_bytes())
        except FileNotFoundError:
            raise NotFound(f"the audio of upload {row.id!r} is no longer stored") from None
        except AudioError as exc:
            raise Unprocessable(f"cannot use this audio: {exc}", reason=exc.reason) from exc

    def _shortlist(self, pooled: list[float], demo: TrackWindows, size: int) -> list[int]:
        """Up to `size` library track ids, best first: the index's nearest to the demo's pooled vector, and the
        nearest to each of up to `SHORTLIST_WINDOWS` of its windows (a lifted passage can sit far from the pooled
        demo), ranked by their best score."""
        assert self.index is not None
        best: dict[int, float] = {}
        for hit in self.index.search(np.asarray(pooled, dtype=np.float32), k=size):
            best[hit.track_id] = max(best.get(hit.track_id, -1.0), hit.score)
        for vector in unit_rows(demo.vectors[_spread(len(demo.vectors), SHORTLIST_WINDOWS)]):
            for hit in self.index.search(vector.astype(np.float32), k=2):
                best[hit.track_id] = max(best.get(hit.track_id, -1.0), hit.score)
        return [t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]

    def list(self, owner: User, page: Page) -> list[UploadOut]:
        """The owner's uploads, newest first."""
        return [upload_out(u) for u in self.repo.owned_by(owner.id, page.limit, page.offset)]

    def delete(self, upload_id: str, owner: User) -> None:
        """Delete the upload and its audio file."""
        row = self.owned(upload_id, owner)
        path = Path(row.stored_path)
        self.repo.delete(row)
        path.unlink(missing_ok=True)


def _spread(n: int, most: int) -> np.ndarray:
    """Up to `most` row numbers of `n` rows, spread evenly from the first to the last."""
    return np.unique(np.linspace(0, n - 1, min(most, n)).round()).astype(int)


def _references(
    demo: TrackWindows, library: list[tuple[int, Segments]], limit: int, near_copy: float
) -> list[PassageMatch]:
    """`find_references` over each of the demo's `DEMO_PHASES` interleaved window grids (each at the library's hop,
    so a passage grows along one consistent offset), keeping per track the phase whose best pair is most similar:
    the one best aligned with the track's windows."""
    best: dict[int, PassageMatch] = {}
    for phase in range(min(DEMO_PHASES, len(demo.vectors))):
        rows = slice(phase, None, DEMO_PHASES)
        grid = Segments(demo.vectors[rows], demo.starts[rows], demo.ends[rows])
        for match in find_references(grid, library, top=len(library), near_copy=near_copy):
            if match.track_id not in best or match.peak_similarity > best[match.track_id].peak_similarity:
                best[match.track_id] = match
    ranked = sorted(best.values(), key=lambda m: (-m.peak_similarity, m.track_id))
    return ranked[:limit]


async def get_upload_embedder(request: Request) -> UploadEmbedder | None:
    """The upload encoder made at start-up (None when uploads are disabled)."""
    embedder: UploadEmbedder | None = getattr(request.app.state, "upload_embedder", None)
    return embedder


async def get_upload_service(
    session: SessionDep,
    settings: SettingsDep,
    embedder: Annotated[UploadEmbedder | None, Depends(get_upload_embedder)],
    index: OptionalIndexDep,
    badges: BadgeServiceDep,
) -> UploadService:
    """The request's upload service (with the window collection of the served encoder's segment store, in the
    track index's Milvus; whether it was filled is asked when a route needs it)."""
    windows = WindowIndex(index, embedder.segments.store_id) if index is not None and embedder is not None else None
    return UploadService(UploadRepository(session), settings, embedder, index, badges, windows)


UploadServiceDep = Annotated[UploadService, Depends(get_upload_service)]
