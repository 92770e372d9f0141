"""Request dependencies as `Annotated` aliases: settings, the DB session (owns the transaction), the index, the
current user and the viewer (the user when signed in), the rate limiter.

Each domain's service comes from a dependency in its own `service.py` (`PlaylistServiceDep`, ...), built on
these; this module imports no domain. Dependencies that only read app state or build objects are `async def`:
FastAPI runs a plain `def` dependency in a worker thread, and those hops (about ten per request) cost the event
loop more than the work (docs/BENCHMARKS.md, "CPU per request"). Those that do I/O (the session, the signed-in
user) stay `def`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.db.models import User
from api.db.session import transaction
from api.errors import MuseedError, ServiceUnavailable, Unauthorized
from api.ratelimit import RateLimiter
from api.security import TokenError, decode_token
from indexing.milvus_index import TrackIndex
from museed.settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="access token from POST /api/auth/login")
#: the same bearer token where it is optional (public reads): its own name lets the OpenAPI document say so
OPTIONAL_BEARER = "OptionalHTTPBearer"
optional_bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name=OPTIONAL_BEARER, description="access token, when signed in (optional)"
)


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def _keeps_changes(error: BaseException) -> bool:
    return isinstance(error, MuseedError) and error.keeps_changes


def get_db(request: Request) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back when it raises (unless the domain
    error says its changes stand). Services only flush."""
    with transaction(request.app.state.session_factory, keeps_changes=_keeps_changes) as session:
        yield session


#: seconds between two tries to open a vector index that could not be opened (requests meanwhile get 503)
INDEX_REOPEN_SECONDS = 2.0


class IndexOpener:
    """Opens the track index again when start-up could not (Milvus was down): at most one try per
    `INDEX_REOPEN_SECONDS`, so a process started during an outage serves playlists once Milvus is back, without a
    restart."""

    def __init__(self, open_index: Callable[[], TrackIndex]) -> None:
        self._open = open_index
        self._lock = threading.Lock()
        self._next_try = 0.0

    def __call__(self, request: Request) -> TrackIndex | None:
        if time.monotonic() < self._next_try or not self._lock.acquire(blocking=False):
            return None
        try:
            self._next_try = time.monotonic() + INDEX_REOPEN_SECONDS
            index = self._open()
            index.ensure_loaded()
        except Exception:  # still down: the caller answers 503
            return None
        finally:
            self._lock.release()
        request.app.state.track_index = index
        return index


def get_optional_index(request: Request) -> TrackIndex | None:
    """The track index when one is served (catalog reads still work without it); opened now if start-up could
    not open it and it may be back."""
    index: TrackIndex | None = getattr(request.app.state, "track_index", None)
    opener: IndexOpener | None = getattr(request.app.state, "index_opener", None)
    if index is None and opener is not None:
        index = opener(request)
    return index


async def optional_index(request: Request) -> TrackIndex | None:
    """`get_optional_index` as a dependency: on the event loop while an index is served (no thread hop for the
    dependency of nearly every route), in a worker thread only while one is being reopened (Milvus calls)."""
    index: TrackIndex | None = getattr(request.app.state, "track_index", None)
    if index is None and getattr(request.app.state, "index_opener", None) is not None:
        return await run_in_threadpool(get_optional_index, request)
    return index


async def get_index(request: Request) -> TrackIndex:
    """The Milvus track index; 503 + Retry-After while none can be opened."""
    index = await optional_index(request)
    if index is None:
        raise ServiceUnavailable("the vector index is not available (Milvus is unreachable or no index is built)")
    return index


async def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter (Redis or memory)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def get_current_user(
    request: Request,
    session: Annotated[Session, Depends(get_db, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    """The user of a valid `Authorization: Bearer <access token>`; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "sign in: an `Authorization: Bearer <access token>` header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        claims = decode_token(request.app.state.settings, credentials.credentials, "access")
    except TokenError as exc:
        raise Unauthorized(str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    user = session.get(User, str(claims["sub"]))
    if user is None:
        raise Unauthorized("the account no longer exists", headers={"WWW-Authenticate": "Bearer"})
    return user


def get_optional_user(
    request: Request,
    session: Annotated[Session, Depends(get_db, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(optional_bearer_scheme)],
) -> User | None:
    """The signed-in user when a bearer token is sent, else None (anonymous readers see public things); a token
    that is sent must be valid (401 otherwise)."""
    if credentials is None:
        return None
    return get_current_user(request, session, credentials)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
#: function scope: the transaction commits before the answer is sent (FastAPI's default, request scope, commits
#: after it, so a client's next request could miss the write and a failed commit would follow a 2xx)
SessionDep = Annotated[Session, Depends(get_db, scope="function")]
IndexDep = Annotated[TrackIndex, Depends(get_index)]
OptionalIndexDep = Annotated[TrackIndex | None, Depends(optional_index)]
CurrentUser = Annotated[User, Depends(get_current_user)]
Viewer = Annotated[User | None, Depends(get_optional_user)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
