"""The bridge from the served index and the catalog to the discovery engine (`discovery/`): the blended query,
a candidate pool from filtered searches joined with the catalog, then `compose_playlist` (dial, policy, flow,
attribution). The listener playlists and `/v1` both come through here, so both follow the same rules."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from api.db.models import Track
from api.errors import Unprocessable
from api.playlists.repository import PlaylistRepository
from discovery.blend import centroid, steer_away
from discovery.dial import HUBNESS_K
from discovery.engine import DiscoveredPlaylist, Pick, TrackFeatures, compose_playlist
from discovery.flow import ENERGY_LEVEL
from discovery.options import DiscoveryOptions
from discovery.policy import Blocklist
from discovery.tracks import UNKNOWN, Candidates, Tracks
from indexing.milvus_index import IndexPlan, SearchFilters, SearchHit, TrackIndex
from indexing.neighbours import neighbourhood_radius

log = structlog.get_logger("museed.playlists")
#: the most candidates one playlist considers
MAX_POOL = 400


@dataclass(frozen=True)
class SeedSet:
    """The seeds of one request: library tracks (ids and rows) or one vector without a track (an upload, a raw
    vector), one unit row per seed."""

    vectors: np.ndarray
    track_ids: list[int] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)

    def table(self) -> Tracks:
        """The seeds as the engine's table (an upload or a raw vector has no track: id 0, no artist, no title)."""
        if not self.track_ids:
            return Tracks.build([0] * len(self.vectors), self.vectors)
        return Tracks.build(
            self.track_ids,
            self.vectors,
            artist_ids=[t.artist_id for t in self.tracks],
            album_ids=[t.album_id if t.album_id is not None else UNKNOWN for t in self.tracks],
            titles=[t.title for t in self.tracks],
            artist_names=[t.artist.name for t in self.tracks],
        )


@dataclass(frozen=True)
class Discovered:
    """The picks in playlist order with their catalog rows and hits, the candidates' vectors, and the policy's
    account (why the playlist is short, if it is)."""

    picks: list[tuple[Track, SearchHit, Pick]]
    vectors: dict[int, np.ndarray]  # the candidates' (`TrackIndex.candidate_vectors`: quantised with a store)
    playlist: DiscoveredPlaylist


def _needs_room(options: DiscoveryOptions) -> bool:
    """Whether rules after the search choose among the candidates (then the pool is several times the size)."""
    return bool(
        options.discovery > 0
        or options.blend != "centroid"
        or options.mode != "top"
        or options.negative_seed_track_ids
        or options.hubness_correction
        or options.min_artist_gap
        or options.max_per_album
        or options.flow != "ranked"
    )


def _negatives(index: TrackIndex, options: DiscoveryOptions, seeds: SeedSet) -> np.ndarray:
    ids = list(options.negative_seed_track_ids)
    if not ids:
        return np.zeros((0, seeds.vectors.shape[1]))
    both = sorted(set(ids) & set(seeds.track_ids))
    if both:
        raise Unprocessable(f"tracks cannot be seeds and negative seeds at once: {both}", track_ids=both)
    rows = index.get_rows(ids)
    missing = [t for t in ids if t not in rows]
    if missing:
        raise Unprocessable(f"negative seed tracks not in the served index: {missing}", unknown_track_ids=missing)
    return np.stack([np.asarray(rows[t]["vector"], dtype=np.float64) for t in ids])


def _weights(options: DiscoveryOptions, seeds: SeedSet) -> list[float] | None:
    if options.seed_weights is None:
        return None
    if len(options.seed_weights) != len(seeds.vectors):
        raise Unprocessable(
            f"seed_weights has {len(options.seed_weights)} weights for {len(seeds.vectors)} seeds; give one per seed"
        )
    return list(options.seed_weights)


def _fetch(
    index: TrackIndex,
    repo: PlaylistRepository,
    query: np.ndarray,
    want: int,
    filters: SearchFilters,
    plan: IndexPlan,
    max_per_artist: int | None,
    exclude: Sequence[int],
) -> tuple[list[tuple[Track, SearchHit]], bool]:
    """Up to `want` (track, hit) candidates in score order, and whether the index ran out before that."""
    pool: list[tuple[Track, SearchHit]] = []
    excluded = list(exclude)
    per_artist: dict[int, int] = {}
    k = want + 10  # over-fetch: a hit can lack catalog metadata
    for _ in range(4):
        hits = index.search(query, k=k, exclude_ids=excluded, plan=plan, filters=filters, max_per_artist=max_per_artist)
        found = repo.tracks_by_id([h.track_id for h in hits])
        for h in hits:
            excluded.append(h.track_id)
            track = found.get(h.track_id)
            if track is None:
                log.warning("indexed track missing from the catalog DB", track_id=h.track_id)
                continue
            # the artist cap holds across rounds: each search round caps only its own hits
            seen = per_artist.get(track.artist_id, 0)
            if len(pool) < want and (max_per_artist is None or seen < max_per_artist):
                pool.append((track, h))
                per_artist[track.artist_id] = seen + 1
        if len(pool) >= want or len(hits) < k:
            return pool, len(hits) < k
    return pool, False


def _candidates(pool: list[tuple[Track, SearchHit]], vectors: dict[int, np.ndarray]) -> Candidates:
    table = Tracks.build(
        [t.track_id for t, _ in pool],
        np.stack([vectors[t.track_id] for t, _ in pool]),
        artist_ids=[t.artist_id for t, _ in pool],
        album_ids=[t.album_id if t.album_id is not None else UNKNOWN for t, _ in pool],
        titles=[t.title for t, _ in pool],
        artist_names=[t.artist.name for t, _ in pool],
    )
    return Candidates.ranked(table, [h.score for _, h in pool])


def discover(
    index: TrackIndex,
    repo: PlaylistRepository,
    seeds: SeedSet,
    options: DiscoveryOptions,
    size: int,
    filters: SearchFilters,
    plan: IndexPlan,
    *,
    blocklist: Blocklist | None = None,
    exclude: Collection[int] = (),
) -> Discovered:
    """`size` tracks for `seeds` under every rule of `options` (fewer, explained, when the library runs out).

    `blocklist` (the listener's or the organisation's) reaches the policy, which drops and counts each blocked
    candidate; `exclude` (what the listener heard, what a refreshed playlist served before) is left out of the
    search itself, like `options.exclude_track_ids`."""
    negatives = _negatives(index, options, seeds)
    try:
        query = steer_away(centroid(seeds.vectors, _weights(options, seeds)), negatives, options.negative_weight)
    except ValueError as exc:  # the weighted seeds (less the negatives) cancel out
        raise Unprocessable("the seed tracks point in opposite directions; their mean has no direction") from exc
    left_out = sorted({*seeds.track_ids, *options.exclude_track_ids, *options.negative_seed_track_ids, *exclude})
    want = min(max(4 * size, 2 * size + 10), MAX_POOL) if _needs_room(options) else size + 10
    while True:
        pool, exhausted = _fetch(
            index, repo, query.astype(np.float32), want, filters, plan, options.max_per_artist, left_out
        )
        vectors = index.candidate_vectors([t.track_id for t, _ in pool])
        pool = [(t, h) for t, h in pool if t.track_id in vectors]
        if not pool:
            raise Unprocessable("no library track matches these filters; loosen them", reason="no_match")
        candidates = _candidates(pool, vectors)
        radius = (
            neighbourhood_radius(index, list(candidates.track_ids), candidates.vectors, HUBNESS_K)
            if options.hubness_correction
            else None
        )
        energies = [ENERGY_LEVEL.get(str(h.fields.get("energy")), 0.5) for _, h in pool]
        result = compose_playlist(
            candidates,
            seeds.table(),
            size,
            options,
            blocklist=blocklist,
            negatives=negatives,
            radius=radius,
            features=TrackFeatures(energies=energies),
        )
        # a rule dropped so many that the pool ran short while the index holds more: look further once more
        if not result.policy.shortfall or exhausted or want >= MAX_POOL:
            break
        want = min(2 * want, MAX_POOL)
    if not result.picks:
        raise Unprocessable(result.explanation or "no library track fits these rules", reason="no_match")
    return Discovered(picks=[(*pool[p.row], p) for p in result.picks], vectors=vectors, playlist=result)
