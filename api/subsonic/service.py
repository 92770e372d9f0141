"""Subsonic facade rules: which MUSEED answer each OpenSubsonic `sonicSimilarity` call is (the `/v1` similar
tracks and the sonic path), the Subsonic id parsing, and how a MUSEED error becomes a Subsonic error code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from api.b2b.plans import Plan
from api.b2b.service import Recommender, RecommenderDep
from api.common import MAX_TRACK_ID
from api.db.models import Track
from api.errors import MuseedError
from api.subsonic import schemas as sub
from api.tracks.service import MAX_PATH_STEPS, MIN_PATH_STEPS, TrackService, TrackServiceDep

#: `getSonicSimilarTracks` and `findSonicPath` defaults (the OpenSubsonic pages)
SIMILAR_DEFAULT_COUNT = 10
PATH_DEFAULT_COUNT = 25
#: the most results one `getSonicSimilarTracks` call returns before the plan's own cap (`/v1`'s bound)
MAX_SIMILAR = 100


class SubsonicError(MuseedError):
    """A failed Subsonic call: answered as HTTP 200, `status="failed"`, `error.code` = `code`."""

    status, title, type_slug = 200, "Subsonic error", "subsonic"

    def __init__(self, code: int, message: str, help_url: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.code = code
        self.help_url = help_url


def subsonic_code(error: MuseedError) -> int:
    """The Subsonic error code of a MUSEED domain error: a bad key 44, a missing scope 50, nothing there 70 (an
    unknown track, or one without an embedding), anything else (rate limits, an unreachable index) 0."""
    if isinstance(error, SubsonicError):
        return error.code
    if error.status == 401:
        return sub.INVALID_API_KEY
    if error.status == 403:
        return sub.NOT_AUTHORIZED
    if error.status == 404 or {"unknown_track_ids", "unembedded_track_ids"} & set(error.extra):
        return sub.NOT_FOUND
    return sub.GENERIC


def track_id(params: dict[str, str], name: str) -> int:
    """The library track a Subsonic id parameter names: code 10 when absent, 70 when it is no library id (Subsonic
    ids are strings; MUSEED's are the library track ids)."""
    raw = params.get(name)
    if raw is None or raw == "":
        raise SubsonicError(sub.MISSING_PARAMETER, f"required parameter is missing: {name}")
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_TRACK_ID:
        raise SubsonicError(sub.NOT_FOUND, f"no song {raw!r}: ids are library track ids")
    return int(text)


def count_param(params: dict[str, str], default: int) -> int:
    """The optional `count` parameter: a positive integer (code 0 otherwise)."""
    raw = params.get("count")
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise SubsonicError(sub.GENERIC, f"count must be a positive integer, got {raw!r}")
    return int(text)


class SubsonicService:
    """Answers the sonicSimilarity calls with the services `/v1` uses."""

    def __init__(self, recommender: Recommender, tracks: TrackService) -> None:
        self.recommender = recommender
        self.tracks = tracks

    def similar(self, seed: int, count: int, plan: Plan) -> dict[str, Any]:
        """`getSonicSimilarTracks`: `GET /v1/tracks/{id}/similar`'s tracks (capped by the plan), each with its
        normalised similarity to the seed."""
        found = self.recommender.similar(seed, min(count, MAX_SIMILAR), plan)
        rows = self.tracks.repo.by_ids([r.track_id for r in found.results])
        scored: list[tuple[Track, float]] = [(rows[r.track_id], r.score) for r in found.results if r.track_id in rows]
        return sub.sonic_matches(scored)

    def path(self, start: int, end: int, count: int, plan: Plan) -> dict[str, Any]:
        """`findSonicPath`: the sonic path of `GET /v1/tracks/{a}/path/{b}` in `count` songs (both ends included;
        at most 50 and the plan's max results), each with its normalised similarity to the start."""
        if count < MIN_PATH_STEPS:
            raise SubsonicError(sub.GENERIC, f"count must be at least {MIN_PATH_STEPS}: a path holds both ends")
        steps = min(count, MAX_PATH_STEPS, plan.max_results)
        found = self.tracks.sonic_path(start, end, max(steps, MIN_PATH_STEPS))
        rows = self.tracks.repo.by_ids([t.track_id for t in found.tracks])
        scored = [(rows[t.track_id], t.similarity_to_start) for t in found.tracks if t.track_id in rows]
        return sub.sonic_matches(scored)


async def get_subsonic_service(recommender: RecommenderDep, tracks: TrackServiceDep) -> SubsonicService:
    """The request's facade service (503, answered as code 0, while no index is served)."""
    return SubsonicService(recommender, tracks)


SubsonicServiceDep = Annotated[SubsonicService, Depends(get_subsonic_service)]
