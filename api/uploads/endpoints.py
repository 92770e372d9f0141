"""HTTP routes of uploads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from starlette.datastructures import UploadFile as FormFile

from api.common import PageDep, UploadId
from api.deps import CurrentUser, SettingsDep
from api.errors import PROBLEM_RESPONSE, PayloadTooLarge
from api.uploads.schemas import MatchesOut, ReferencesOut, UploadOut
from api.uploads.service import UploadServiceDep

router = APIRouter(prefix="/api/uploads", tags=["uploads"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSE,
    404: PROBLEM_RESPONSE,
    413: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
    503: PROBLEM_RESPONSE,
}


def read_upload(request: Request, file: FormFile, limit: int) -> bytes:
    """The uploaded file's bytes: 413 for a request declared larger than `limit` (plus room for the multipart
    framing), or as soon as more than `limit` bytes arrive (the B2B audio seeds share these limits)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge("the request is larger than the upload limit", reason="too_large")
    return _read_bounded(file, limit)


def _read_bounded(file: FormFile, limit: int) -> bytes:
    """The upload's bytes, refusing (413) as soon as more than `limit` arrive."""
    chunks, total = [], 0
    while chunk := file.file.read(1 << 20):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(
                f"the file is larger than the {limit // (1024 * 1024)} MiB upload limit", reason="too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=UploadOut, responses=_ERRORS, summary="Upload my track"
)
def upload(
    request: Request,
    user: CurrentUser,
    uploads: UploadServiceDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="audio: mp3, ogg, flac, wav, m4a ...")],
) -> UploadOut:
    """Decode and embed your own audio with the library's encoder; it stays private to you and can seed
    playlists (`seed_upload_id`). The answer carries its analysis: genre, mood, energy, valence and
    instrumentation voted by its nearest library tracks. Bad audio gets 422 with a `reason`, oversize 413, a
    busy encoder 503."""
    data = read_upload(request, file, settings.max_upload_bytes)
    return uploads.create(user, file.filename or "upload", data)


@router.get(
    "", response_model=list[UploadOut], responses={401: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE}, summary="My uploads"
)
def my_uploads(user: CurrentUser, uploads: UploadServiceDep, page: PageDep) -> list[UploadOut]:
    """Your uploads, newest first."""
    return uploads.list(user, page)


@router.delete(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
    summary="Delete",
)
def delete_upload(upload_id: UploadId, user: CurrentUser, uploads: UploadServiceDep) -> Response:
    """Delete one of your uploads and its audio."""
    uploads.delete(upload_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{upload_id}/references",
    response_model=ReferencesOut,
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Reference tracks and near-copies of my demo",
)
def upload_references(
    upload_id: UploadId,
    user: CurrentUser,
    uploads: UploadServiceDep,
    limit: int = Query(default=5, ge=1, le=20, description="reference tracks to return"),
) -> ReferencesOut:
    """The library tracks closest to your upload (a demo), most similar first, each with its best-matching
    passage (start and end seconds in the demo and in the track), the similarity, and `near_copy` when a
    passage of the demo is a near-copy of that recording. Library tracks are compared window by window (the
    first request for a track embeds its windows, so it is slower). A busy encoder answers 503."""
    return uploads.references(upload_id, user, limit)


@router.get(
    "/{upload_id}/matches",
    response_model=MatchesOut,
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE, 503: PROBLEM_RESPONSE},
    summary="Which library recording is my upload?",
)
def upload_matches(
    upload_id: UploadId,
    user: CurrentUser,
    uploads: UploadServiceDep,
    limit: int = Query(default=5, ge=1, le=20, description="library recordings to return"),
) -> MatchesOut:
    """The library recordings your upload may be an excerpt of, most similar first: your upload's windows are
    searched among the windows of every library track (the window index), and each track is ranked by its best
    window pair, returned with where it lies in your upload and in the track. Without a window index for the
    served encoder the answer is 503 with reason `no_window_index`."""
    return uploads.matches(upload_id, user, limit)
