"""HTTP routes of the OpenSubsonic facade under `/rest`: `ping`, `getLicense`, `getOpenSubsonicExtensions`, and the
`sonicSimilarity` extension's `getSonicSimilarTracks` and `findSonicPath`, each as `name` and `name.view`, GET or
POST (form fields: the `formPost` extension), `f=json` or XML (the default).

Authentication: the `apiKeyAuthentication` extension only, with the B2B API keys (`apiKey=msk_...`, the
`recommend` scope for the similarity calls), metered and rate limited exactly like `/v1` (`api.b2b.endpoints.
metering`). Password and token parameters (`u`, `p`, `t`, `s`) answer error 42: tokens need recoverable passwords,
and MUSEED keeps Argon2 hashes.

Every error is HTTP 200 with `status="failed"` and a Subsonic error code: the Subsonic convention, which holds
under `/rest` only (`install_subsonic_errors`). These routes are not in the OpenAPI document (their contract is
OpenSubsonic's), so the schemathesis runs never see them; `tests/api/test_subsonic.py` fuzzes them instead."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.b2b.endpoints import Call, metering
from api.b2b.service import B2BLimiterDep, B2BServiceDep
from api.db.models import ApiKey
from api.deps import SessionDep
from api.errors import DATABASE_RETRY_AFTER_SECONDS, VECTOR_INDEX_RETRY_AFTER_SECONDS, MuseedError, Unauthorized
from api.subsonic import schemas as sub
from api.subsonic.service import (
    PATH_DEFAULT_COUNT,
    SIMILAR_DEFAULT_COUNT,
    SubsonicError,
    SubsonicServiceDep,
    count_param,
    subsonic_code,
    track_id,
)
from indexing.search import VectorIndexError

log = structlog.get_logger("museed.subsonic")
#: the password and token parameters of classic Subsonic authentication
PASSWORD_PARAMS = ("u", "p", "t", "s")
#: the most form fields one POST may carry (a Subsonic call has a handful)
MAX_FORM_FIELDS = 64


def _format(request: Request) -> str:
    fmt = getattr(request.state, "subsonic_format", None) or request.query_params.get("f", "xml")
    return fmt if fmt in sub.FORMATS else "xml"


def _failed(request: Request, code: int, message: str, help_url: str | None, headers: dict[str, str]) -> Response:
    body = sub.envelope("failed", sub.error_payload(code, message, help_url))
    return sub.render(body, _format(request), headers)


def _help_url(request: Request) -> str:
    # the API documentation, where the B2B key routes (`/v1/orgs/{org_id}/keys`) are described
    return f"{str(request.base_url).rstrip('/')}/docs"


def subsonic_failure(request: Request, exc: Exception) -> Response:
    """Any exception of a facade call as a Subsonic answer: domain errors by `subsonic_code` (their `Retry-After`
    kept), an unreachable index or database as code 0 with `Retry-After`, anything unexpected logged and answered
    as code 0."""
    if isinstance(exc, MuseedError):
        headers = dict(exc.extra.get("headers") or {})
        headers.pop("WWW-Authenticate", None)  # not an HTTP authentication challenge here
        code = subsonic_code(exc)
        help_url = getattr(exc, "help_url", None)
        if help_url is None and code in (sub.AUTH_NOT_SUPPORTED, sub.CONFLICTING_AUTH, sub.INVALID_API_KEY):
            help_url = _help_url(request)
        return _failed(request, code, exc.detail, help_url, headers)
    if isinstance(exc, VectorIndexError):
        retry = {"Retry-After": str(VECTOR_INDEX_RETRY_AFTER_SECONDS)}
        return _failed(request, sub.GENERIC, "the vector index is unreachable or not ready; retry shortly", None, retry)
    if isinstance(exc, OperationalError | InterfaceError | SQLAlchemyTimeoutError):
        retry = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        return _failed(request, sub.GENERIC, "the database is busy or unreachable; retry shortly", None, retry)
    if isinstance(exc, StarletteHTTPException):
        return _failed(request, sub.GENERIC, str(exc.detail), None, {})
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return _failed(request, sub.GENERIC, "an unexpected error occurred; it has been logged", None, {})


#: the facade's prefix: under it (and only there) every error is a Subsonic answer
PREFIX = "/rest"


def install_subsonic_errors(app: FastAPI) -> None:
    """Make the app's error handlers answer the Subsonic way for requests under `/rest` (`subsonic_failure`) and
    as before (problem+json) everywhere else. They run where they always do, after the request's dependencies
    have exited, so a failed call still gives its quota back (`metering`) and rolls its transaction back."""
    for exc_class, original in list(app.exception_handlers.items()):
        app.exception_handlers[exc_class] = _subsonic_under_rest(original)


def _subsonic_under_rest(original: Callable[..., Any]) -> Callable[..., Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return subsonic_failure(request, exc)
        result = original(request, exc)
        return await result if inspect.isawaitable(result) else result  # type: ignore[no-any-return]

    return handler


router = APIRouter(prefix=PREFIX, tags=["subsonic"])


async def subsonic_params(request: Request) -> dict[str, str]:
    """The call's parameters: the query string, then (POST) the form fields; the first value of a repeated name.
    Also fixes the answer's format (`f`) for the error path."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, value)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        except StarletteHTTPException as exc:
            raise SubsonicError(sub.GENERIC, f"the form body cannot be parsed: {exc.detail}") from exc
        try:
            for name, field in form.multi_items():
                if isinstance(field, str):
                    params.setdefault(name, field)
        finally:
            await form.close()
    fmt = params.get("f", "xml")
    request.state.subsonic_format = fmt
    if fmt not in sub.FORMATS:
        raise SubsonicError(sub.GENERIC, f"unsupported format {fmt!r}: this server answers f=xml or f=json")
    return params


ParamsDep = Annotated[dict[str, str], Depends(subsonic_params)]


def subsonic_key(params: ParamsDep, b2b: B2BServiceDep) -> ApiKey:
    """The live B2B key of `apiKey` (the apiKeyAuthentication extension): 10 when none is given, 42 for password
    or token authentication, 43 for both at once, 44 for an unknown or revoked key."""
    given = [p for p in PASSWORD_PARAMS if p in params]
    api_key = params.get("apiKey")
    if api_key is not None and given:
        raise SubsonicError(
            sub.CONFLICTING_AUTH,
            f"multiple conflicting authentication mechanisms provided: apiKey together with {', '.join(given)}",
        )
    if api_key is None:
        if given:
            raise SubsonicError(
                sub.AUTH_NOT_SUPPORTED,
                "password and token authentication are not supported: send apiKey=<a MUSEED API key> "
                "(OpenSubsonic apiKeyAuthentication)",
            )
        raise SubsonicError(sub.MISSING_PARAMETER, "required parameter is missing: apiKey")
    try:
        return b2b.authenticate(api_key)
    except Unauthorized as exc:
        raise SubsonicError(sub.INVALID_API_KEY, exc.detail) from exc


def subsonic_call(endpoint: str, scope: str | None) -> Any:
    """The dependency of an authenticated facade call: `/v1`'s metering with the key from `apiKey`, the usage row
    named `subsonic.<endpoint>`."""

    def dependency(
        response: Response,
        session: SessionDep,
        key: Annotated[ApiKey, Depends(subsonic_key)],
        b2b: B2BServiceDep,
        limiter: B2BLimiterDep,
    ) -> Iterator[Call]:
        yield from metering(response, session, key, b2b, limiter, f"subsonic.{endpoint}", scope)

    return Depends(dependency, scope="function")


def _ok(params: dict[str, str], payload: dict[str, Any], call: Call | None = None) -> Response:
    headers = call.admission.headers() if call is not None and call.admission is not None else None
    return sub.render(sub.envelope("ok", payload), params.get("f", "xml"), headers)


def _endpoint(name: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a facade call as `/rest/<name>` and `/rest/<name>.view`, GET and POST."""

    def register(fn: Callable[..., Response]) -> Callable[..., Response]:
        for path in (f"/{name}", f"/{name}.view"):
            router.add_api_route(path, fn, methods=["GET", "POST"], include_in_schema=False, name=f"subsonic-{name}")
        return fn

    return register


@_endpoint("ping")
def ping(params: ParamsDep, call: Annotated[Call, subsonic_call("ping", None)]) -> Response:
    """Checks the key; rate limited, counts no query."""
    call.admit(queries=0)
    return _ok(params, {}, call)


@_endpoint("getLicense")
def get_license(params: ParamsDep, call: Annotated[Call, subsonic_call("getLicense", None)]) -> Response:
    """Always valid (MUSEED has no licence to buy); rate limited, counts no query."""
    call.admit(queries=0)
    return _ok(params, {"license": {"valid": True}}, call)


@_endpoint("getOpenSubsonicExtensions")
def get_open_subsonic_extensions(params: ParamsDep) -> Response:
    """The extensions this facade implements; answered without a key, so a client learns how to authenticate."""
    extensions = [{"name": name, "versions": versions} for name, versions in sub.EXTENSIONS]
    return _ok(params, {"openSubsonicExtensions": extensions})


@_endpoint("getSonicSimilarTracks")
def get_sonic_similar_tracks(
    params: ParamsDep,
    service: SubsonicServiceDep,
    call: Annotated[Call, subsonic_call("getSonicSimilarTracks", "recommend")],
) -> Response:
    """`id` (a library track id) and `count` (default 10, capped by the plan): `GET /v1/tracks/{id}/similar`'s
    tracks as `sonicMatch` entries with a 0..1 similarity; counts one query."""
    seed = track_id(params, "id")
    count = count_param(params, SIMILAR_DEFAULT_COUNT)
    call.admit()
    return _ok(params, service.similar(seed, count, call.plan), call)


@_endpoint("findSonicPath")
def find_sonic_path(
    params: ParamsDep,
    service: SubsonicServiceDep,
    call: Annotated[Call, subsonic_call("findSonicPath", "recommend")],
) -> Response:
    """`startSongId`, `endSongId` and `count` (songs in the path, both ends included; default 25, at most 50 and
    the plan's max results): the sonic path as `sonicMatch` entries, each with its 0..1 similarity to the start;
    counts one query."""
    start = track_id(params, "startSongId")
    end = track_id(params, "endSongId")
    count = count_param(params, PATH_DEFAULT_COUNT)
    call.admit()
    return _ok(params, service.path(start, end, count, call.plan), call)


@router.api_route("/{name}", methods=["GET", "POST"], include_in_schema=False)
def unsupported(name: str, params: ParamsDep) -> Response:
    """Any other Subsonic call: code 0, naming what this facade implements."""
    del params  # parsed for the answer's format
    known = "ping, getLicense, getOpenSubsonicExtensions, getSonicSimilarTracks, findSonicPath"
    raise SubsonicError(sub.GENERIC, f"{name!r} is not implemented by this server; it implements {known}")
