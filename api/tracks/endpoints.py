"""HTTP routes of the library track domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from api.common import Page, TrackId, page_query
from api.deps import Viewer
from api.errors import PROBLEM_RESPONSE
from api.tracks.highlights import HighlightServiceDep
from api.tracks.schemas import SonicPathOut, TextSearchOut, TrackComparisonOut, TrackDetail, TrackPage
from api.tracks.service import AUDIO_MEDIA_TYPES, MAX_PATH_STEPS, MIN_PATH_STEPS, TrackServiceDep
from api.tracks.text_search import MAX_PROMPT_CHARS, TextSearchDep

router = APIRouter(prefix="/api/tracks", tags=["tracks"])
#: the library is browsed deeper than other lists: larger pages, offsets bounded against runaway scans
LibraryPage = Annotated[Page, Depends(page_query(max_limit=500, max_offset=1_000_000))]


@router.get("", response_model=TrackPage, responses={422: PROBLEM_RESPONSE}, summary="Search the library")
def search_tracks(
    tracks: TrackServiceDep,
    page: LibraryPage,
    q: str = Query(
        default="",
        max_length=200,
        description="words that must all occur (case-insensitive) in the title, artist or album; empty: all",
    ),
    genre: str | None = Query(default=None, max_length=64, description="only this top-level genre"),
) -> TrackPage:
    """Text search over titles, artists and albums with a genre filter, pagination, the total and the genre
    facet (counts per top-level genre of the text matches)."""
    return tracks.search(q, genre, page)


#: the steps of a sonic path (tracks, both ends included); shared by the listener route and `/v1`
PathSteps = Annotated[
    int, Query(ge=MIN_PATH_STEPS, le=MAX_PATH_STEPS, description="tracks in the path, both ends included")
]
#: a text prompt for the MuQ-MuLan text tower; shared by the listener route and `/v1`
TextPrompt = Annotated[
    str, Query(min_length=1, max_length=MAX_PROMPT_CHARS, description="what the music should sound like")
]
#: 501 where this server has no MuQ-MuLan text tower or MuLan audio vectors
TEXT_UNAVAILABLE_RESPONSE = {
    **PROBLEM_RESPONSE,
    "description": "Text search is not available on this server (no MuQ-MuLan weights or no MuLan audio vector "
    "set): problem details with type `text_search_unavailable`, the missing piece named in `detail`",
}


@router.get(
    "/text-search",
    response_model=TextSearchOut,
    responses={422: PROBLEM_RESPONSE, 501: TEXT_UNAVAILABLE_RESPONSE},
    summary="Library tracks that sound like a text prompt",
)
def text_search(
    tracks: TrackServiceDep,
    text: TextSearchDep,
    q: TextPrompt,
    count: Annotated[int, Query(ge=1, le=100, description="tracks wanted")] = 20,
) -> TextSearchOut:
    """The prompt ("calm acoustic guitar at night") through the MuQ-MuLan text tower, scored by cosine against the
    library's MuLan audio vectors. Where this server has no MuQ-MuLan weights or no MuLan vector set the answer
    is 501 `text_search_unavailable` saying which; there is no keyword fallback pretending to be text search."""
    return tracks.text_search(text, q, count)


@router.get("/{track_id}", response_model=TrackDetail, responses={404: PROBLEM_RESPONSE}, summary="One track")
def get_track(track_id: TrackId, request: Request, tracks: TrackServiceDep) -> TrackDetail:
    """A library track's metadata, genres, tags (from the served index) and audio link."""
    return tracks.detail(track_id, lambda tid: str(request.url_for("track_audio", track_id=tid)))


@router.get(
    "/{track_id}/path/{to_track_id}",
    response_model=SonicPathOut,
    responses={404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
    summary="A sonic path from one track to another in N steps",
)
def sonic_path(track_id: TrackId, to_track_id: TrackId, tracks: TrackServiceDep, steps: PathSteps = 10) -> SonicPathOut:
    """`steps` library tracks from `track_id` to `to_track_id`, both included: each step is the unused library
    track nearest the next point on the great circle between the two in the served embedding space, so the
    similarity to the start falls and the similarity to the end rises along the way."""
    return tracks.sonic_path(track_id, to_track_id, steps)


@router.get(
    "/{track_id}/audio",
    response_class=FileResponse,
    responses={404: PROBLEM_RESPONSE, 206: {"description": "Partial content (Range request)"}},
    summary="Stream a library track (HTTP Range supported)",
)
def track_audio(track_id: TrackId, tracks: TrackServiceDep) -> FileResponse:
    """The track's audio file; browsers seek with `Range: bytes=...` (206 Partial Content)."""
    path = tracks.audio_path(track_id)
    return FileResponse(path, media_type=AUDIO_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))


@router.get(
    "/{track_id}/compare/{other_id}",
    response_model=TrackComparisonOut,
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Why, and where: a track against another",
)
def compare_tracks(
    track_id: TrackId,
    other_id: TrackId,
    highlights: HighlightServiceDep,
    viewer: Viewer,
    top: Annotated[int, Query(ge=1, le=10, description="segment pairs to return")] = 3,
) -> TrackComparisonOut:
    """How `other_id` (a playlist result) relates to `track_id` (its seed): the pooled similarity, the shared and
    differing tags, and the `top` best-matching window pairs with start and end seconds in both tracks (each
    window used once). Computed from the tracks' dense windows: stored ones for anyone; a track not analysed yet
    is embedded now for a signed-in listener only (anonymous: 401 `sign_in_required`); a busy encoder answers
    503."""
    return highlights.compare(track_id, other_id, top, may_embed=viewer is not None)
