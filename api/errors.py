"""One error family, rendered by one handler as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.headers import ERROR_HEADERS
from indexing.search import VectorIndexError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("museed.api")


class MuseedError(Exception):
    """Base of every domain error; `status` and `title` say what kind, `detail` says what happened."""

    status: int = 500
    title: str = "Internal error"
    type_slug: str = "internal"
    #: True when the request's changes must be committed although it fails (e.g. sessions revoked on token reuse)
    keeps_changes: bool = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(MuseedError):
    status, title, type_slug = 400, "Bad request", "bad-request"


class Unauthorized(MuseedError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class Forbidden(MuseedError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class TooManyRequests(MuseedError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"


class NotFound(MuseedError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(MuseedError):
    status, title, type_slug = 409, "Conflict", "conflict"


class PayloadTooLarge(MuseedError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class Unprocessable(MuseedError):
    status, title, type_slug = 422, "Unprocessable content", "unprocessable"


class ServiceUnavailable(MuseedError):
    """A dependency is missing: always answered with `Retry-After` (the raiser may name a better wait)."""

    status, title, type_slug = 503, "Service unavailable", "unavailable"
    default_retry_after_seconds = 5

    def __init__(self, detail: str, **extra: Any) -> None:
        headers = {"Retry-After": str(self.default_retry_after_seconds), **(extra.pop("headers", None) or {})}
        super().__init__(detail, headers=headers, **extra)


#: what a client is told to wait after the database was busy or unreachable
DATABASE_RETRY_AFTER_SECONDS = 2
#: what a client is told to wait after the vector index (Milvus) was unreachable or not ready
VECTOR_INDEX_RETRY_AFTER_SECONDS = 2


def problem(request: Request, status: int, title: str, detail: str, slug: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": f"https://museed.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


#: documented on every route that can fail, so OpenAPI shows the error body
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "Problem details (RFC 9457)",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                },
            }
        }
    },
}


#: a dependency is missing or the process is at capacity: problem+json with a `Retry-After` header
UNAVAILABLE_PROBLEM_RESPONSE: dict[str, Any] = {
    **PROBLEM_RESPONSE,
    "description": "Unavailable (overloaded, or the database or vector index unreachable): problem details "
    "(RFC 9457); retry after `Retry-After` seconds",
    "headers": {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}},
}


#: what a 422 from request validation looks like: a problem with the failing fields listed
VALIDATION_PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "Invalid request: problem details (RFC 9457) listing each failing field in `errors`",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    **PROBLEM_RESPONSE["content"][PROBLEM_JSON]["schema"]["properties"],
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                        },
                    },
                },
            }
        }
    },
}


def _documented_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path (its most literal matching template)."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.url.path
    matches = [t for t in paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)]
    if not matches:
        return []
    template = min(matches, key=lambda t: t.count("{"))
    return sorted(m.upper() for m in paths[template])


def _unavailable(request: Request, what: str, reason: str, retry_after_seconds: int) -> JSONResponse:
    """503 problem+json with `Retry-After`: a dependency failed, not the request."""
    resp = problem(request, 503, "Service unavailable", f"{what}; retry shortly", "unavailable", reason=reason)
    resp.headers["Retry-After"] = str(retry_after_seconds)
    return resp


def install_error_handlers(app: FastAPI) -> None:
    """Route domain errors, HTTP errors, validation errors and unexpected exceptions through problem+json."""

    @app.exception_handler(MuseedError)
    async def _domain(request: Request, exc: MuseedError) -> JSONResponse:
        headers = exc.extra.pop("headers", None)
        resp = problem(request, exc.status, exc.title, exc.detail, exc.type_slug, **exc.extra)
        if headers:
            resp.headers.update(headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return problem(request, 422, "Invalid request", detail, "validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # a body the framework cannot parse (bytes that are not UTF-8 JSON, a broken multipart form) is a
            # validation error like any other: one status (422) for every malformed request
            msg = f"the body cannot be parsed: {exc.detail}"
            error = {"loc": ["body"], "msg": msg, "type": "body_invalid"}
            return problem(request, 422, "Invalid request", msg, "validation", errors=[error])
        # an HTTPException may name its problem's `reason` (the body-size cap does)
        reason = getattr(exc, "reason", None)
        extra = {"reason": reason} if isinstance(reason, str) else {}
        resp = problem(request, exc.status_code, str(exc.detail), str(exc.detail), "http", **extra)
        if exc.headers:
            resp.headers.update(exc.headers)
        if exc.status_code == 405:
            # the router names only the methods of the one route it tried; a resource has all its routes' methods
            resp.headers["Allow"] = ", ".join(_documented_methods(request)) or resp.headers.get("Allow", "")
        return resp

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # a busy SQLite (lock wait expired), an unreachable PostgreSQL or an exhausted pool: the dependency
        # failed, not the request; other DBAPI errors (a broken constraint) are bugs and stay 500s
        if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError):
            return await _unexpected(request, exc)
        log.warning("database unavailable", path=request.url.path, error=str(exc).splitlines()[0][:200])
        return _unavailable(
            request, "the database is busy or unreachable", "database_unavailable", DATABASE_RETRY_AFTER_SECONDS
        )

    @app.exception_handler(VectorIndexError)
    async def _vector_index(request: Request, exc: VectorIndexError) -> JSONResponse:
        # Milvus down, frozen past the call timeout, or no collection served: the dependency failed
        log.warning("vector index unavailable", path=request.url.path, error=str(exc).splitlines()[0][:200])
        return _unavailable(
            request,
            "the vector index is unreachable or not ready",
            "vector_index_unavailable",
            VECTOR_INDEX_RETRY_AFTER_SECONDS,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        resp = problem(request, 500, "Internal error", "an unexpected error occurred; it has been logged", "internal")
        # Starlette renders this one outside every middleware: the security headers come with it here
        resp.headers.update(ERROR_HEADERS)
        return resp
