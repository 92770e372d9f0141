"""HTTP routes of the B2B API: `/v1` for API keys, `/v1/orgs/{org_id}/keys` for an organisation's admins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.b2b.limits import Admission, B2BLimiter
from api.b2b.plans import SCOPES, Plan
from api.b2b.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    BatchOut,
    BatchRequest,
    MetaOut,
    QueryOptions,
    RecommendationRequest,
    RecommendationsOut,
    TextRecommendationRequest,
    TextRecommendationsOut,
    TrendAxis,
    TrendsOut,
    UsageOut,
)
from api.b2b.service import B2BLimiterDep, B2BService, B2BServiceDep, RecommenderDep, plans_of
from api.b2b.trends import CHART_MEDIA_TYPES, MAX_TOP, MAX_WEEKS, ChartFormat, TrendServiceDep, trend_chart
from api.common import IsoDate, TrackId
from api.db.models import ApiKey
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import PROBLEM_RESPONSE, Forbidden, NotFound, Unauthorized
from api.playlists.blocklists import BlocklistService, OrgBlocklistsDep
from api.playlists.repository import BlockedKind
from api.playlists.schemas import BlockedArtist, BlockedTrack, BlocklistOut
from api.tracks.endpoints import TEXT_UNAVAILABLE_RESPONSE, PathSteps
from api.tracks.schemas import SonicPathOut, TrackDetail
from api.tracks.service import TrackServiceDep
from api.tracks.text_search import TextSearchDep
from api.uploads.endpoints import read_upload
from api.uploads.service import UploadEmbedder, get_upload_embedder

T = TypeVar("T", bound=BaseModel)
router = APIRouter(prefix="/v1", tags=["b2b"])
admin_router = APIRouter(prefix="/v1/orgs", tags=["b2b-admin"])

key_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKeyBearer", description="`Authorization: Bearer msk_...`")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader", description="`msk_...`")

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_RATE_LIMITED: dict[str, Any] = {
    **PROBLEM_RESPONSE,
    "description": "Rate limit (`reason: rate_limited`, `window`) or quota (`reason: quota_exceeded`, `quota`, "
    "`reset_at`) exceeded: problem details; retry after `Retry-After` seconds",
    "headers": _RETRY_AFTER,
}
_UNAVAILABLE: dict[str, Any] = {
    **PROBLEM_RESPONSE,
    "description": "The rate-limit store (Redis), the database or the vector index is unreachable: problem "
    "details; retry after `Retry-After` seconds",
    "headers": _RETRY_AFTER,
}
# every /v1 route: no/unknown/revoked key, missing scope, invalid body, rate or quota exceeded, Redis down
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSE,
    403: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
    429: _RATE_LIMITED,
    503: _UNAVAILABLE,
}


def get_api_key(
    request: Request,
    b2b: B2BServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(key_bearer)],
    header: Annotated[str | None, Depends(key_header)],
) -> ApiKey:
    """The live key of `Authorization: Bearer msk_...` or `X-API-Key: msk_...`; 401 otherwise. Read from the
    DB on every request, so a revoked or rotated-out key is refused at once by every process. Credentials that
    disagree (an `Authorization` that is no bearer key beside an `X-API-Key`, or two different keys) are refused
    rather than one of them picked."""
    authorization = request.headers.get("authorization")
    if authorization is not None and (bearer is None or (header is not None and header != bearer.credentials)):
        raise Unauthorized(
            "conflicting credentials: send one API key, as `Authorization: Bearer msk_...` or `X-API-Key`",
            reason="conflicting_credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise Unauthorized(
            "an API key is required: `Authorization: Bearer msk_...` or `X-API-Key: msk_...`",
            reason="missing_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return b2b.authenticate(presented)


ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]


@dataclass
class Call:
    """A metered `/v1` call: its key and plan, and, once the route admits it, what the limiter granted (the
    response's `RateLimit*` headers say so)."""

    key: ApiKey
    plan: Plan
    limiter: B2BLimiter
    used: Callable[[], tuple[int, int]]
    response: Response
    admission: Admission | None = None
    endpoint: str | None = None

    def admit(self, units: int = 1, queries: int = 1, endpoint: str | None = None) -> None:
        """Take `units` of the rate windows and `queries` of the quotas, or raise 429 / 503; `endpoint` names
        the usage row when it differs from the route's. Routes call it once their input is valid, so a request
        refused as malformed (422) has taken nothing."""
        self.endpoint = endpoint
        self.admission = self.limiter.admit(self.key.id, self.plan, units, queries, self.used)
        self.response.headers.update(self.admission.headers())


def metering(
    response: Response,
    session: Session,
    key: ApiKey,
    b2b: B2BService,
    limiter: B2BLimiter,
    endpoint: str,
    scope: str | None,
) -> Iterator[Call]:
    """One metered call of `key` (the body of every metered dependency, `/v1`'s and the Subsonic facade's): the
    scope checked, the call yielded for the route to admit once its input is valid, the usage row committed
    before the answer is sent, and the quota given back (nothing counted) when the request fails."""
    if scope is not None and scope not in key.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope", reason="missing_scope", scope=scope)

    def used() -> tuple[int, int]:
        return b2b.used(key, limiter.clock())

    call = Call(key, b2b.plan_of(key), limiter, used, response)
    try:
        yield call
        if call.admission is None:  # a route that forgot to admit would be unmetered: refuse loudly
            raise RuntimeError(f"metered route {endpoint!r} answered without admitting the call")
        if call.admission.units > 0:
            b2b.record_usage(key, call.admission.day, call.endpoint or endpoint, call.admission.units)
        # the request's transaction, usage row included, is committed before the answer leaves
        session.commit()
    except BaseException:
        if call.admission is not None:
            limiter.release(call.admission)
        raise


def metered(endpoint: str, scope: str | None) -> Any:
    """The dependency of a `/v1` route: the key and its scope; the route admits the call (`Call.admit`) once its
    input is valid; the usage row is committed before the answer is sent (function scope), so no answered
    request goes uncounted, even when the process is killed right after; a failing request gives its quota
    back and counts nothing."""

    def dependency(
        response: Response, session: SessionDep, key: ApiKeyDep, b2b: B2BServiceDep, limiter: B2BLimiterDep
    ) -> Iterator[Call]:
        yield from metering(response, session, key, b2b, limiter, endpoint, scope)

    return Depends(dependency, scope="function")


@dataclass
class AudioSeed:
    """An audio-seeded query: the uploaded file (read within the upload limits by the route) and its options."""

    file: StarletteUploadFile
    options: QueryOptions


def _validated(model: type[T], raw: str | bytes, loc: tuple[str, ...]) -> T:
    """`raw` JSON parsed into `model`, or FastAPI's own 422 (same `errors` shape as a declared body)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from exc


async def recommendation_input(request: Request) -> AsyncIterator[RecommendationRequest | AudioSeed]:
    """The body of `POST /v1/recommendations`: JSON seeds, or a multipart audio file (`file`) with an optional
    `options` part (JSON); malformed input is a 422 before the call takes anything from the rate windows."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        yield _validated(RecommendationRequest, await request.body(), ("body",))
        return
    try:
        form = await request.form(max_files=1, max_fields=1)
    except StarletteHTTPException as exc:  # a broken multipart body, or more parts than `file` and `options`
        raise RequestValidationError(
            [{"type": "multipart", "loc": ("body",), "msg": str(exc.detail), "input": None}]
        ) from exc
    try:
        file, options = form.get("file"), form.get("options")
        if not isinstance(file, StarletteUploadFile):
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body", "file"), "msg": "an audio file part is required", "input": None}]
            )
        if options is not None and not isinstance(options, str):
            raise RequestValidationError(
                [{"type": "string_type", "loc": ("body", "options"), "msg": "options must be JSON text", "input": None}]
            )
        yield AudioSeed(file, _validated(QueryOptions, options or "{}", ("body", "options")))
    finally:
        await form.close()


_AUDIO_PART = "audio: mp3, ogg, flac, wav, m4a ... (the listener upload limits); costs `upload_units` (10)"
_RECOMMEND_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RecommendationRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": _AUDIO_PART},
                        "options": {
                            "type": "string",
                            "description": "a JSON object: the fields of RecommendationRequest but the seeds (`count`, "
                            "filters, options, `commercial_use`); default {}",
                            "examples": ['{"count": 10, "mood_style": "dreamy"}'],
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/recommendations",
    response_model=RecommendationsOut,
    responses={**_ERRORS, 413: PROBLEM_RESPONSE},
    openapi_extra=_RECOMMEND_BODY,
    summary="Recommend tracks for seed tracks, a vector or an audio file",
)
def recommendations(
    request: Request,
    recommender: RecommenderDep,
    settings: SettingsDep,
    embedder: Annotated[UploadEmbedder | None, Depends(get_upload_embedder)],
    call: Annotated[Call, metered("recommendations", "recommend")],
    body: Annotated[RecommendationRequest | AudioSeed, Depends(recommendation_input)],
) -> RecommendationsOut:
    """JSON: 1..10 seed track ids (their vectors are averaged) or a raw `vector` of the served dimension, with
    the listener playlists' filters and options; counts one query. Multipart (`upload` scope too): an audio
    `file`, decoded and embedded as listener uploads are (same size and duration limits, same 413/422 reasons;
    not kept), with the same options as JSON in an `options` part; costs the plan's `upload_units` (10) of
    the rate windows and the quotas. `count` is capped by the plan's max results. Each result has the track's
    FMA metadata, its similarity and why it was picked; the response names the encoder and index version
    that answered."""
    if isinstance(body, RecommendationRequest):
        call.admit()
        return recommender.for_org(call.key.org_id).recommend(body, call.plan)
    if "upload" not in call.key.scopes:
        raise Forbidden("audio seeds need the 'upload' scope", reason="missing_scope", scope="upload")
    data = read_upload(request, body.file, settings.max_upload_bytes)  # an oversized body (413) costs nothing
    call.admit(units=call.plan.upload_units, queries=call.plan.upload_units, endpoint="recommendations.audio")
    return recommender.for_org(call.key.org_id).recommend_audio(
        embedder, body.file.filename or "upload", data, body.options, call.plan
    )


@router.post(
    "/recommendations/batch",
    response_model=BatchOut,
    responses={**_ERRORS},
    summary="Up to 50 recommendation queries in one call",
)
def recommendations_batch(
    body: BatchRequest,
    recommender: RecommenderDep,
    call: Annotated[Call, metered("recommendations.batch", "recommend")],
) -> BatchOut:
    """Each query as in `POST /v1/recommendations` (no audio); one result list per query, in order. The call
    takes one unit of the rate windows and counts one query per query against the quotas."""
    call.admit(queries=len(body.queries))
    return recommender.for_org(call.key.org_id).batch(body, call.plan)


@router.get(
    "/tracks/{track_id}",
    response_model=TrackDetail,
    responses={**_ERRORS, 404: PROBLEM_RESPONSE},
    summary="One catalog track",
)
def track(
    track_id: int, request: Request, tracks: TrackServiceDep, call: Annotated[Call, metered("tracks", "recommend")]
) -> TrackDetail:
    """A track's FMA metadata, genres, licence, tags (from the served index) and audio link."""
    call.admit()
    return tracks.detail(track_id, lambda tid: str(request.url_for("track_audio", track_id=tid)))


@router.get(
    "/tracks/{track_id}/similar",
    response_model=RecommendationsOut,
    responses={**_ERRORS, 404: PROBLEM_RESPONSE},
    summary="Tracks similar to one track",
)
def similar_tracks(
    track_id: int,
    recommender: RecommenderDep,
    call: Annotated[Call, metered("tracks.similar", "recommend")],
    count: Annotated[int, Query(ge=1, le=100, description="results wanted (capped by the plan)")] = 20,
) -> RecommendationsOut:
    """`POST /v1/recommendations` with this one seed and the default options."""
    call.admit()
    return recommender.for_org(call.key.org_id).similar(track_id, count, call.plan)


@router.post(
    "/recommendations/text",
    response_model=TextRecommendationsOut,
    responses={**_ERRORS, 501: TEXT_UNAVAILABLE_RESPONSE},
    summary="Recommend tracks for a text prompt (MuQ-MuLan text tower)",
)
def text_recommendations(
    body: TextRecommendationRequest,
    tracks: TrackServiceDep,
    text: TextSearchDep,
    call: Annotated[Call, metered("recommendations.text", "recommend")],
) -> TextRecommendationsOut:
    """The listener text search (`GET /api/tracks/text-search`) for API keys: the prompt through the MuQ-MuLan
    text tower, scored against the library's MuLan audio vectors; counts one query. Where this server has no
    MuQ-MuLan weights or no MuLan vector set (`/v1/meta` says `text_search: false`) the answer is 501
    `text_search_unavailable` and nothing is counted."""
    call.admit()
    count = min(body.count, call.plan.max_results)
    found = tracks.text_search(text, body.text, count)
    return TextRecommendationsOut(**found.model_dump(), capped_by_plan=count < body.count)


@router.get(
    "/tracks/{track_id}/path/{to_track_id}",
    response_model=SonicPathOut,
    responses={**_ERRORS, 404: PROBLEM_RESPONSE},
    summary="A sonic path from one track to another in N steps",
)
def sonic_path(
    track_id: TrackId,
    to_track_id: TrackId,
    tracks: TrackServiceDep,
    call: Annotated[Call, metered("tracks.path", "recommend")],
    steps: PathSteps = 10,
) -> SonicPathOut:
    """`GET /api/tracks/{track_id}/path/{to_track_id}` for API keys: `steps` library tracks (both ends included;
    capped by the plan's max results) from one track to the other along the great circle between them in the
    served embedding space; counts one query."""
    call.admit()
    allowed = min(steps, call.plan.max_results)
    path = tracks.sonic_path(track_id, to_track_id, allowed)
    return path.model_copy(update={"capped_by_plan": allowed < steps})


@router.get("/meta", response_model=MetaOut, responses={**_ERRORS}, summary="What serves the API, and the plans")
def meta(
    request: Request,
    recommender: RecommenderDep,
    embedder: Annotated[UploadEmbedder | None, Depends(get_upload_embedder)],
    text: TextSearchDep,
    call: Annotated[Call, metered("meta", None)],
) -> MetaOut:
    """Catalog size, indexed tracks, encoder id and its weights' licence, index version (collection), vector
    dimension and the plans (with what an audio seed costs)."""
    call.admit()
    out = recommender.meta(plans_of(request), call.plan.name, embedder)
    return out.model_copy(update={"text_search": text.available})


#: the range of a trend report: `weeks` ISO weeks up to the one holding `until`
TrendWeeks = Annotated[int, Query(ge=2, le=MAX_WEEKS, description="ISO weeks in the report")]
TrendUntil = Annotated[IsoDate | None, Query(description="a UTC day of the last week (default: today)")]


@router.get(
    "/trends",
    response_model=TrendsOut,
    responses={**_ERRORS},
    summary="What listeners create and like, week by week",
)
def trends(
    trend_service: TrendServiceDep,
    call: Annotated[Call, metered("trends", "trends")],
    weeks: TrendWeeks = 8,
    until: TrendUntil = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="movers per direction and seed tracks listed")] = 10,
) -> TrendsOut:
    """Per ISO week (UTC): the genre and mood shares of the playlists created and of the playlists liked (a
    playlist's label is its filter, else what most of its seeds share, else null), the labels whose share rose
    and fell most from the week before to the last week, and the most used seed tracks. Counts one query."""
    call.admit()
    return trend_service.report(until, weeks, top)


@router.get(
    "/trends/chart",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "the chart"}},
    summary="The trend report as a chart",
)
def trends_chart(
    trend_service: TrendServiceDep,
    call: Annotated[Call, metered("trends.chart", "trends")],
    weeks: TrendWeeks = 8,
    until: TrendUntil = None,
    axis: Annotated[TrendAxis, Query(description="genre or mood shares")] = "genre",
    format: Annotated[ChartFormat, Query(description="svg or png")] = "svg",
) -> Response:
    """Stacked weekly shares on `axis`: playlists created beside playlists liked, as SVG or PNG. Counts one
    query."""
    call.admit()
    report = trend_service.report(until, weeks, MAX_TOP)
    return Response(trend_chart(report, axis, format), media_type=CHART_MEDIA_TYPES[format])


@router.get("/usage", response_model=UsageOut, responses={**_ERRORS}, summary="Your organisation's usage")
def usage(
    b2b: B2BServiceDep,
    call: Annotated[Call, metered("usage", None)],
    since: Annotated[IsoDate | None, Query(description="first UTC day (default: 29 days before `until`)")] = None,
    until: Annotated[IsoDate | None, Query(description="last UTC day (default: today)")] = None,
) -> UsageOut:
    """Answered queries per UTC day and endpoint of the calling key's organisation (all its keys); no
    organisation sees another's. Reading usage is rate limited but counts no query."""
    call.admit(queries=0)
    return b2b.usage(call.key.org_id, since, until)


# -- an organisation's admins manage its keys (listener accounts, bearer access token) ---------------------------


class KeyRequest(BaseModel):
    """A new key's plan, scopes and label."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"plan": "free", "scopes": ["recommend"], "name": "staging"}]}
    )

    plan: str = Field(default="free", max_length=32)
    scopes: list[str] = Field(default_factory=lambda: ["recommend"], min_length=1, max_length=len(SCOPES))
    name: str = Field(default="", max_length=200)


_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSE,
    403: PROBLEM_RESPONSE,
    404: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
}


def _admin(b2b: Any, org_id: str, user: Any) -> None:
    if b2b.repo.member(org_id, user.id) is None:
        raise NotFound(f"no organisation {org_id!r}")  # non-members do not learn that it exists
    if not b2b.is_admin(org_id, user.id):
        raise Forbidden("only the organisation's admins manage its keys", reason="not_org_admin")


@admin_router.get("/{org_id}/keys", response_model=list[ApiKeyOut], responses=_ADMIN_ERRORS, summary="List keys")
def list_keys(org_id: str, user: CurrentUser, b2b: B2BServiceDep) -> list[ApiKeyOut]:
    """The organisation's keys, newest first (prefixes, never secrets); org admins only."""
    _admin(b2b, org_id, user)
    return b2b.list_keys(org_id)


@admin_router.post(
    "/{org_id}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=_ADMIN_ERRORS,
    summary="Create a key",
)
def create_key(org_id: str, body: KeyRequest, user: CurrentUser, b2b: B2BServiceDep) -> ApiKeyCreated:
    """A new key; `key` is shown in this response only (the DB keeps its hash); org admins only."""
    _admin(b2b, org_id, user)
    return b2b.create_key(org_id, body.plan, body.scopes, body.name)


@admin_router.post(
    "/{org_id}/keys/{prefix}/rotate", response_model=ApiKeyCreated, responses=_ADMIN_ERRORS, summary="Rotate a key"
)
def rotate_key(org_id: str, prefix: str, user: CurrentUser, b2b: B2BServiceDep) -> ApiKeyCreated:
    """A new key with the same plan and scopes; the old one is refused from now on; org admins only."""
    _admin(b2b, org_id, user)
    return b2b.rotate_key(prefix, org_id)


@admin_router.delete("/{org_id}/keys/{prefix}", response_model=ApiKeyOut, responses=_ADMIN_ERRORS, summary="Revoke")
def revoke_key(org_id: str, prefix: str, user: CurrentUser, b2b: B2BServiceDep) -> ApiKeyOut:
    """Revoke a key: refused from the next request on, by every API process; org admins only."""
    _admin(b2b, org_id, user)
    return b2b.revoke_key(prefix, org_id)


# -- an organisation's blocklist: its admins edit it, its members read it; it applies to its `/v1` answers only --


def _org_role(b2b: B2BService, org_id: str, user_id: str, admin: bool) -> None:
    if b2b.repo.member(org_id, user_id) is None:
        raise NotFound(f"no organisation {org_id!r}")  # non-members do not learn that it exists
    if admin and not b2b.is_admin(org_id, user_id):
        raise Forbidden("only the organisation's admins edit its blocklist", reason="not_org_admin")


@admin_router.get(
    "/{org_id}/blocklist", response_model=BlocklistOut, responses=_ADMIN_ERRORS, summary="The organisation's blocklist"
)
def org_blocklist(org_id: str, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep) -> BlocklistOut:
    """The artists and tracks the organisation's `/v1` recommendations never include; org members read it."""
    _org_role(b2b, org_id, user.id, admin=False)
    return blocklists.read(org_id)


def _org_entry(
    org_id: str, kind: BlockedKind, item_id: int, user_id: str, b2b: B2BService, blocklists: BlocklistService
) -> BlockedArtist | BlockedTrack:
    _org_role(b2b, org_id, user_id, admin=False)
    return blocklists.entry(org_id, kind, item_id)


def _org_block(
    org_id: str, kind: BlockedKind, item_id: int, on: bool, user_id: str, b2b: B2BService, blocklists: BlocklistService
) -> Response:
    _org_role(b2b, org_id, user_id, admin=True)
    blocklists.block(org_id, kind, item_id, on=on)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get(
    "/{org_id}/blocklist/artists/{artist_id}",
    response_model=BlockedArtist,
    responses=_ADMIN_ERRORS,
    summary="Is this artist blocked for the organisation?",
)
def org_blocked_artist(
    org_id: str, artist_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> BlockedArtist | BlockedTrack:
    """The blocked artist; 404 when it is not blocked or not in the catalog; org members read it."""
    return _org_entry(org_id, "artist", artist_id, user.id, b2b, blocklists)


@admin_router.put(
    "/{org_id}/blocklist/artists/{artist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ADMIN_ERRORS,
    summary="Block an artist for the organisation",
)
def org_block_artist(
    org_id: str, artist_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> Response:
    """The organisation's `/v1` recommendations never include this artist from now on (idempotent); org admins
    only; 404 for an unknown artist."""
    return _org_block(org_id, "artist", artist_id, True, user.id, b2b, blocklists)


@admin_router.delete(
    "/{org_id}/blocklist/artists/{artist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ADMIN_ERRORS,
    summary="Unblock an artist for the organisation",
)
def org_unblock_artist(
    org_id: str, artist_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> Response:
    """Take the artist off the organisation's blocklist (idempotent); org admins only."""
    return _org_block(org_id, "artist", artist_id, False, user.id, b2b, blocklists)


@admin_router.get(
    "/{org_id}/blocklist/tracks/{track_id}",
    response_model=BlockedTrack,
    responses=_ADMIN_ERRORS,
    summary="Is this track blocked for the organisation?",
)
def org_blocked_track(
    org_id: str, track_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> BlockedArtist | BlockedTrack:
    """The blocked track; 404 when it is not blocked or not in the catalog; org members read it."""
    return _org_entry(org_id, "track", track_id, user.id, b2b, blocklists)


@admin_router.put(
    "/{org_id}/blocklist/tracks/{track_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ADMIN_ERRORS,
    summary="Block a track for the organisation",
)
def org_block_track(
    org_id: str, track_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> Response:
    """The organisation's `/v1` recommendations never include this track from now on (idempotent); org admins
    only; 404 for an unknown track."""
    return _org_block(org_id, "track", track_id, True, user.id, b2b, blocklists)


@admin_router.delete(
    "/{org_id}/blocklist/tracks/{track_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ADMIN_ERRORS,
    summary="Unblock a track for the organisation",
)
def org_unblock_track(
    org_id: str, track_id: TrackId, user: CurrentUser, b2b: B2BServiceDep, blocklists: OrgBlocklistsDep
) -> Response:
    """Take the track off the organisation's blocklist (idempotent); org admins only."""
    return _org_block(org_id, "track", track_id, False, user.id, b2b, blocklists)
