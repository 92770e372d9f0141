"""HTTP routes of the B2B API: `/v1` for API keys, `/v1/orgs/{org_id}/keys` for an organisation's admins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from api.b2b.limits import Admission, B2BLimiter
from api.b2b.plans import SCOPES, Plan
from api.b2b.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    BatchOut,
    BatchRequest,
    MetaOut,
    RecommendationRequest,
    RecommendationsOut,
    UsageOut,
)
from api.b2b.service import B2BLimiterDep, B2BServiceDep, RecommenderDep, plans_of
from api.db.models import ApiKey
from api.deps import CurrentUser, SessionDep
from api.errors import PROBLEM_RESPONSE, Forbidden, NotFound, Unauthorized
from api.tracks.schemas import TrackDetail
from api.tracks.service import TrackServiceDep

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
    b2b: B2BServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(key_bearer)],
    header: Annotated[str | None, Depends(key_header)],
) -> ApiKey:
    """The live key of `Authorization: Bearer msk_...` or `X-API-Key: msk_...`; 401 otherwise. Read from the
    DB on every request, so a revoked or rotated-out key is refused at once by every process."""
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
    """A metered `/v1` call: its key, plan, what the limiter granted, and the response whose headers say so."""

    key: ApiKey
    plan: Plan
    admission: Admission
    limiter: B2BLimiter
    used: Callable[[], tuple[int, int]]
    response: Response

    def charge(self, queries: int) -> None:
        """Hold `queries` more of the quotas (a batch counts each query), or raise 429 `quota_exceeded`."""
        if queries <= 0:
            return
        quota = self.limiter.reserve(self.admission, self.plan, queries, self.used)
        names = {w.name for w in quota}
        self.admission.windows = [w for w in self.admission.windows if w.name not in names] + quota
        self.response.headers.update(self.admission.headers())


def metered(endpoint: str, scope: str | None, units: int = 1, queries: int = 1) -> Any:
    """The dependency of a `/v1` route: scope check, rate windows (`units`), quotas (`queries`), the
    `RateLimit*` headers, and the usage row, committed before the answer is sent (function scope), so no
    answered request goes uncounted, even when the process is killed right after; a failing request gives
    its quota back and counts nothing."""

    def dependency(
        response: Response, session: SessionDep, key: ApiKeyDep, b2b: B2BServiceDep, limiter: B2BLimiterDep
    ) -> Iterator[Call]:
        if scope is not None and scope not in key.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope", reason="missing_scope", scope=scope)
        plan = b2b.plan_of(key)

        def used() -> tuple[int, int]:
            return b2b.used(key, limiter.clock())

        admission = limiter.admit(key.id, plan, units, queries, used)
        response.headers.update(admission.headers())
        try:
            yield Call(key, plan, admission, limiter, used, response)
            if admission.units > 0:
                b2b.record_usage(key, admission.day, endpoint, admission.units)
            # the request's transaction, usage row included, is committed before the answer leaves
            session.commit()
        except BaseException:
            limiter.release(admission)
            raise

    return Depends(dependency, scope="function")


@router.post(
    "/recommendations",
    response_model=RecommendationsOut,
    responses={**_ERRORS},
    summary="Recommend tracks for seed tracks or a vector",
)
def recommendations(
    body: RecommendationRequest,
    recommender: RecommenderDep,
    call: Annotated[Call, metered("recommendations", "recommend")],
) -> RecommendationsOut:
    """1..10 seed track ids (their vectors are averaged) or a raw `vector` of the served dimension, with the
    listener playlists' filters and options; `count` is capped by the plan's max results. Each result has the
    track's FMA metadata, its similarity and why it was picked; the response names the encoder and index
    version that answered. Counts one query."""
    return recommender.recommend(body, call.plan)


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
    call.charge(len(body.queries) - 1)
    return recommender.batch(body, call.plan)


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
    del call
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
    return recommender.similar(track_id, count, call.plan)


@router.get("/meta", response_model=MetaOut, responses={**_ERRORS}, summary="What serves the API, and the plans")
def meta(request: Request, recommender: RecommenderDep, call: Annotated[Call, metered("meta", None)]) -> MetaOut:
    """Catalog size, indexed tracks, encoder id, index version (collection), vector dimension and the plans."""
    return recommender.meta(plans_of(request), call.plan.name)


@router.get("/usage", response_model=UsageOut, responses={**_ERRORS}, summary="Your organisation's usage")
def usage(
    b2b: B2BServiceDep,
    call: Annotated[Call, metered("usage", None, queries=0)],
    since: Annotated[date | None, Query(description="first UTC day (default: 29 days before `until`)")] = None,
    until: Annotated[date | None, Query(description="last UTC day (default: today)")] = None,
) -> UsageOut:
    """Answered queries per UTC day and endpoint of the calling key's organisation (all its keys); no
    organisation sees another's. Reading usage is rate limited but counts no query."""
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
