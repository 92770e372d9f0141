"""Playlist rules: seeds -> (mean) vector -> filtered Milvus search -> catalog join -> stored playlist."""

from __future__ import annotations

import numpy as np
import structlog

from api.db.models import Playlist, PlaylistTrack, Track, Upload, User
from api.errors import Forbidden, NotFound, Unprocessable
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import (
    PlaylistCreate,
    PlaylistEntry,
    PlaylistOrder,
    PlaylistOut,
    PlaylistSummary,
    PlaylistUpdate,
    TrackBrief,
)
from indexing.milvus_index import TrackIndex

log = structlog.get_logger("museed.playlists")
#: cosine at which a track counts as the same recording as the seed (re-encodes, excerpts)
NEAR_DUPLICATE = 0.995


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


def summary(playlist: Playlist, n_tracks: int, likes: int = 0) -> PlaylistSummary:
    """The list view of a playlist."""
    return PlaylistSummary(
        id=playlist.id,
        title=playlist.title,
        owner_id=playlist.owner_id,
        visibility=playlist.visibility,
        created_at=playlist.created_at,
        updated_at=playlist.updated_at,
        n_tracks=n_tracks,
        likes=likes,
    )


def seed_vector(vectors: list[np.ndarray]) -> np.ndarray:
    """Mean of the seeds' unit vectors, renormalised (the direction all seeds share)."""
    mean = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-8:
        raise Unprocessable("the seed tracks point in opposite directions; their mean has no direction")
    return (mean / norm).astype(np.float32)


class PlaylistService:
    """Builds, stores and reads playlists."""

    def __init__(self, repo: PlaylistRepository, index: TrackIndex | None = None) -> None:
        self.repo = repo
        self.index = index

    def create(self, request: PlaylistCreate, owner: User) -> PlaylistOut:
        """Generate and store a (private) playlist for `request`, owned by `owner`."""
        assert self.index is not None, "creating playlists needs the track index"
        seeds: dict[int, Track] = {}
        upload: Upload | None = None
        if request.seed_upload_id:
            upload = self.repo.session.get(Upload, request.seed_upload_id)
            if upload is None or upload.owner_id != owner.id:  # others' uploads are private: same answer as absent
                raise NotFound(f"no upload {request.seed_upload_id!r}")
            query = seed_vector([np.asarray(upload.vector, dtype=np.float32)])
        else:
            seeds = self.repo.tracks_by_id(request.seed_track_ids)
            unknown = [t for t in request.seed_track_ids if t not in seeds]
            if unknown:
                raise Unprocessable(f"unknown seed track ids: {unknown}", unknown_track_ids=unknown)
            vectors = self.index.get_vectors(request.seed_track_ids)
            missing = [t for t in request.seed_track_ids if t not in vectors]
            if missing:
                raise Unprocessable(
                    "seed tracks without an embedding (their audio could not be decoded or was not embedded): "
                    f"{missing}",
                    unembedded_track_ids=missing,
                )
            query = seed_vector([vectors[t] for t in request.seed_track_ids])
        plan = self.index.current_plan()
        collection = self.index.current_collection()

        chosen: list[tuple[Track, float]] = []
        exclude = list(request.seed_track_ids)
        # over-fetch: a hit can lack catalog metadata (index built from another catalog); keep going until full
        k = request.size + 10
        for _ in range(4):
            hits = self.index.search(query, k=k, genre=request.genre, exclude_ids=exclude, plan=plan)
            rows = self.repo.tracks_by_id([h.track_id for h in hits])
            for h in hits:
                track = rows.get(h.track_id)
                if track is None:
                    log.warning("indexed track missing from the catalog DB", track_id=h.track_id)
                elif request.exclude_near_duplicates and h.score >= NEAR_DUPLICATE:
                    pass
                elif len(chosen) < request.size:
                    chosen.append((track, h.score))
                exclude.append(h.track_id)
            if len(chosen) >= request.size or len(hits) < k:
                break

        seed_rows = [seeds[t] for t in request.seed_track_ids]
        if upload is not None:
            title = request.title or f"Like “{upload.filename}”" + (f" ({request.genre})" if request.genre else "")
        else:
            title = request.title or _default_title(seed_rows, request.genre)
        playlist = Playlist(
            title=title,
            owner_id=owner.id,
            seed_track_ids=list(request.seed_track_ids),
            recipe={
                "seed_track_ids": list(request.seed_track_ids),
                "seed_upload_id": request.seed_upload_id,
                "upload_encoder_id": upload.encoder_id if upload else None,
                "exclude_near_duplicates": request.exclude_near_duplicates,
                "size": request.size,
                "genre": request.genre,
                "collection": collection,
                "index_type": plan.index_type,
                "nprobe": plan.nprobe,
            },
        )
        playlist.entries = [PlaylistTrack(position=i, track_id=t.track_id, score=s) for i, (t, s) in enumerate(chosen)]
        self.repo.add(playlist)
        log.info("playlist created", playlist_id=playlist.id, seeds=len(seed_rows), tracks=len(chosen))
        return self._out(playlist, seed_rows, chosen)

    def readable(self, playlist_id: str, viewer: User | None) -> Playlist:
        """A playlist `viewer` may see; private ones of others are reported as absent (no existence leak)."""
        playlist = self.repo.get(playlist_id)
        if playlist is None or (playlist.visibility != "public" and (viewer is None or viewer.id != playlist.owner_id)):
            raise NotFound(f"no playlist {playlist_id!r}")
        return playlist

    def owned(self, playlist_id: str, user: User) -> Playlist:
        """A playlist `user` may change: 404 when they cannot see it, 403 when they see it but do not own it."""
        playlist = self.readable(playlist_id, user)
        if playlist.owner_id != user.id:
            raise Forbidden("only the playlist's owner can change it")
        return playlist

    def get(self, playlist_id: str, viewer: User | None) -> PlaylistOut:
        """A stored playlist as `viewer` may see it."""
        return self.out(self.readable(playlist_id, viewer))

    def update(self, playlist_id: str, body: PlaylistUpdate, user: User) -> PlaylistOut:
        """Rename and/or change visibility."""
        playlist = self.owned(playlist_id, user)
        if body.title is not None:
            title = body.title.strip()
            if not title:
                raise Unprocessable("title must not be blank")
            playlist.title = title
        if body.visibility is not None:
            playlist.visibility = body.visibility
        self.repo.session.flush()
        return self.out(playlist)

    def reorder(self, playlist_id: str, body: PlaylistOrder, user: User) -> PlaylistOut:
        """Reorder and/or remove tracks; adding tracks that are not in the playlist is refused."""
        playlist = self.owned(playlist_id, user)
        scores = {e.track_id: e.score for e in playlist.entries}
        foreign = [t for t in body.track_ids if t not in scores]
        if foreign:
            raise Unprocessable(f"tracks not in this playlist: {foreign}", foreign_track_ids=foreign)
        self.repo.replace_entries(playlist, [(t, scores[t]) for t in body.track_ids])
        refreshed = self.repo.get(playlist_id)
        assert refreshed is not None
        return self.out(refreshed)

    def delete(self, playlist_id: str, user: User) -> None:
        """Delete a playlist."""
        self.repo.delete(self.owned(playlist_id, user))

    def list_owned(self, user: User, limit: int, offset: int) -> list[PlaylistSummary]:
        """The user's playlists, newest first."""
        return [summary(p, n) for p, n in self.repo.owned_by(user.id, limit, offset)]

    def out(self, playlist: Playlist) -> PlaylistOut:
        """The full view of a loaded playlist."""
        seeds = self.repo.tracks_by_id(playlist.seed_track_ids)
        seed_rows = [seeds[t] for t in playlist.seed_track_ids if t in seeds]
        return self._out(playlist, seed_rows, [(e.track, e.score) for e in playlist.entries])

    @staticmethod
    def _out(playlist: Playlist, seeds: list[Track], chosen: list[tuple[Track, float]]) -> PlaylistOut:
        return PlaylistOut(
            id=playlist.id,
            title=playlist.title,
            owner_id=playlist.owner_id,
            created_at=playlist.created_at,
            updated_at=playlist.updated_at,
            visibility=playlist.visibility,
            seed_tracks=[brief(t) for t in seeds],
            seed_upload_id=(playlist.recipe or {}).get("seed_upload_id"),
            recipe=playlist.recipe,
            tracks=[
                PlaylistEntry(position=i, score=round(float(s), 6), **brief(t).model_dump())
                for i, (t, s) in enumerate(chosen)
            ],
        )


def _default_title(seeds: list[Track], genre: str | None) -> str:
    first = seeds[0]
    base = f"Like “{first.title}” by {first.artist.name}"
    if len(seeds) > 1:
        base += f" and {len(seeds) - 1} more"
    return f"{base} ({genre})" if genre else base
