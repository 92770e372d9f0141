"""Playlist rules: seeds -> (mean) vector -> filtered Milvus search -> catalog join -> stored playlist."""

from __future__ import annotations

import numpy as np
import structlog

from api.db.models import Playlist, PlaylistTrack, Track
from api.errors import NotFound, Unprocessable
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import PlaylistCreate, PlaylistEntry, PlaylistOut, TrackBrief
from indexing.milvus_index import TrackIndex

log = structlog.get_logger("museed.playlists")


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

    def create(self, request: PlaylistCreate) -> PlaylistOut:
        """Generate and store a playlist for `request`."""
        assert self.index is not None, "creating playlists needs the track index"
        seeds = self.repo.tracks_by_id(request.seed_track_ids)
        unknown = [t for t in request.seed_track_ids if t not in seeds]
        if unknown:
            raise Unprocessable(f"unknown seed track ids: {unknown}", unknown_track_ids=unknown)
        vectors = self.index.get_vectors(request.seed_track_ids)
        missing = [t for t in request.seed_track_ids if t not in vectors]
        if missing:
            raise Unprocessable(
                f"seed tracks without an embedding (their audio could not be decoded or was not embedded): {missing}",
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
                elif len(chosen) < request.size:
                    chosen.append((track, h.score))
                exclude.append(h.track_id)
            if len(chosen) >= request.size or len(hits) < k:
                break

        seed_rows = [seeds[t] for t in request.seed_track_ids]
        title = request.title or _default_title(seed_rows, request.genre)
        playlist = Playlist(
            title=title,
            seed_track_ids=list(request.seed_track_ids),
            recipe={
                "seed_track_ids": list(request.seed_track_ids),
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

    def get(self, playlist_id: str) -> PlaylistOut:
        """A stored playlist; NotFound when absent."""
        playlist = self.repo.get(playlist_id)
        if playlist is None:
            raise NotFound(f"no playlist {playlist_id!r}")
        seeds = self.repo.tracks_by_id(playlist.seed_track_ids)
        seed_rows = [seeds[t] for t in playlist.seed_track_ids if t in seeds]
        return self._out(playlist, seed_rows, [(e.track, e.score) for e in playlist.entries])

    @staticmethod
    def _out(playlist: Playlist, seeds: list[Track], chosen: list[tuple[Track, float]]) -> PlaylistOut:
        return PlaylistOut(
            id=playlist.id,
            title=playlist.title,
            created_at=playlist.created_at,
            visibility=playlist.visibility,
            seed_tracks=[brief(t) for t in seeds],
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
