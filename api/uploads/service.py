"""Upload rules: bounded size and duration, decode + embed off the event loop under a concurrency cap, nothing
half-written on failure."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
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
from api.uploads.repository import UploadRepository
from api.uploads.schemas import UploadOut
from embedding.audio import AudioError, AudioLimits, load_segments
from embedding.job import SegmentPolicy
from indexing.milvus_index import TrackIndex
from museed.settings import Settings
from museed.vocab import TAG_AXES

log = structlog.get_logger("museed.uploads")
#: library tracks that vote on an upload's genre and tags
ANALYSIS_NEIGHBOURS = 20
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".flac", ".wav", ".m4a", ".aac", ".opus", ".aiff", ".aif"}
#: the tag fields of a search hit that vote, in the public axis order (the same fields "why" names)
ANALYSIS_FIELDS = tuple(a.milvus_field for a in TAG_AXES)


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

    def embed(self, data: bytes) -> tuple[list[float], float]:
        """(L2-normalised vector, duration in seconds) of an upload; AudioError for bad audio."""
        if not self._slots.acquire(timeout=self.settings.upload_wait_seconds):
            raise ServiceUnavailable("the upload encoder is busy; try again shortly", headers={"Retry-After": "5"})
        try:
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
        finally:
            self._slots.release()

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
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.badges = badges

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

    def list(self, owner: User, page: Page) -> list[UploadOut]:
        """The owner's uploads, newest first."""
        return [upload_out(u) for u in self.repo.owned_by(owner.id, page.limit, page.offset)]

    def delete(self, upload_id: str, owner: User) -> None:
        """Delete the upload and its audio file."""
        row = self.owned(upload_id, owner)
        path = Path(row.stored_path)
        self.repo.delete(row)
        path.unlink(missing_ok=True)


def get_upload_embedder(request: Request) -> UploadEmbedder | None:
    """The upload encoder made at start-up (None when uploads are disabled)."""
    embedder: UploadEmbedder | None = getattr(request.app.state, "upload_embedder", None)
    return embedder


def get_upload_service(
    session: SessionDep,
    settings: SettingsDep,
    embedder: Annotated[UploadEmbedder | None, Depends(get_upload_embedder)],
    index: OptionalIndexDep,
    badges: BadgeServiceDep,
) -> UploadService:
    """The request's upload service."""
    return UploadService(UploadRepository(session), settings, embedder, index, badges)


UploadServiceDep = Annotated[UploadService, Depends(get_upload_service)]
