"""`create_app()`: middleware, metrics, error handlers, health probes and the domain routers. No work at import."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy import text

from api.admission import AdmissionControl
from api.b2b.endpoints import admin_router as b2b_admin_router
from api.b2b.endpoints import router as b2b_router
from api.b2b.limits import B2BLimiter
from api.badges.endpoints import router as badges_router
from api.bodylimit import MULTIPART_OVERHEAD_BYTES, BodySizeLimit
from api.db.session import session_factory
from api.deps import OPTIONAL_BEARER, IndexOpener, get_optional_index
from api.errors import (
    PROBLEM_JSON,
    PROBLEM_RESPONSE,
    UNAVAILABLE_PROBLEM_RESPONSE,
    VALIDATION_PROBLEM_RESPONSE,
    install_error_handlers,
)
from api.headers import install_security_headers
from api.hosts import TrustedHosts
from api.playlists.endpoints import listener_router
from api.playlists.endpoints import router as playlists_router
from api.ratelimit import RateLimiter
from api.social.endpoints import router as social_router
from api.subsonic.endpoints import install_subsonic_errors
from api.subsonic.endpoints import router as subsonic_router
from api.tracks.endpoints import router as tracks_router
from api.tracks.search_cache import SearchCache
from api.tracks.text_search import load_text_search
from api.uploads.endpoints import router as uploads_router
from api.uploads.service import UploadEmbedder
from api.users.endpoints import auth_router, users_router
from api.web.router import mount_web
from indexing.milvus_index import TrackIndex
from museed.logging import configure_logging
from museed.settings import Settings, get_settings

log = structlog.get_logger("museed.api")


def _operation_id(route: Any) -> str:
    """Stable OpenAPI operation ids "{tag}-{name}" (generated clients keep their method names)."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _upload_embedder(settings: Settings, encoder: Any | None, index: TrackIndex | None) -> UploadEmbedder | None:
    """The encoder for uploads, only when it makes vectors comparable with the served index."""
    if encoder is None and not settings.serve_uploads:
        return None
    try:
        if encoder is None:
            from embedding.encoders import load_encoder

            encoder = load_encoder(settings.encoder, settings=settings)
    except Exception as exc:
        log.error("upload encoder unavailable; uploads disabled", spec=settings.encoder, error=str(exc))
        return None
    from embedding.job import manifest_for

    expected = manifest_for(encoder).vector_set_id
    served = index.served_identity() if index is not None else None
    if served is not None and served["collection"] is not None and not _same_vector_set(served, expected):
        # vectors of another encoder would sit in a different space: refuse rather than return nonsense
        log.error(
            "upload encoder does not match the served vectors; uploads disabled",
            encoder=encoder.encoder_id,
            collection=served["collection"],
        )
        return None
    return UploadEmbedder(encoder, settings)


def _same_vector_set(served: dict[str, Any], expected: str) -> bool:
    """Whether the served collection holds vectors of the vector set `expected`."""
    if served["vector_set_id"] is not None:
        return bool(served["vector_set_id"] == expected)
    # collections built before the identity was stored: only their name ("{alias}_{vector_set_id}_{ms}") tells
    return f"_{expected}_" in str(served["collection"])


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the error handlers and middleware send, derived here once for every
    route: validation errors (422) are problem+json (with an `errors` list), not FastAPI's default JSON body; a
    route that reads a bearer token can answer 401; one with a path id can answer 404; every route but the
    liveness probe can answer 503 + `Retry-After` (admission control, an unreachable database or vector index).
    Statuses a route's service raises beyond these (403, 409, 413, 429) are listed on the route itself."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemes = schema.get("components", {}).get("securitySchemes", {})
        if schemes.pop(OPTIONAL_BEARER, None) is not None:
            schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                if {OPTIONAL_BEARER: []} in op.get("security", []):
                    # the viewer's token: read when sent (and then it must be valid), never required
                    op["security"] = [{"HTTPBearer": []}, {}]
                responses = op.setdefault("responses", {})
                response = responses.get("422")
                if response is not None and PROBLEM_JSON not in response.get("content", {}):
                    responses["422"] = VALIDATION_PROBLEM_RESPONSE
                if "security" in op:
                    responses.setdefault("401", PROBLEM_RESPONSE)
                if "{" in path:
                    responses.setdefault("404", PROBLEM_RESPONSE)
                if path != "/healthz":
                    unavailable = responses.setdefault("503", UNAVAILABLE_PROBLEM_RESPONSE)
                    if PROBLEM_JSON in unavailable.get("content", {}) and "headers" not in unavailable:
                        responses["503"] = {**unavailable, "headers": UNAVAILABLE_PROBLEM_RESPONSE["headers"]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None, track_index: TrackIndex | None = None, encoder: Any | None = None
) -> FastAPI:
    """Build the MUSEED FastAPI app; `track_index` and `encoder` let tests hand in ones they made themselves."""
    settings = settings or get_settings()
    configure_logging(json_logs=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.session_factory = session_factory(
            settings.sqlalchemy_url, settings.db_statement_timeout_ms, settings.db_pool_timeout_seconds
        )
        app.state.rate_limiter = RateLimiter(settings)
        app.state.search_cache = SearchCache(settings.search_cache_seconds, settings.search_cache_entries)
        app.state.b2b_limiter = B2BLimiter(settings)
        app.state.index_opener = None
        if track_index is not None:
            app.state.track_index = track_index
        else:

            def open_index() -> TrackIndex:
                return TrackIndex(
                    settings.milvus_target,
                    alias=settings.milvus_alias,
                    token=settings.milvus_token.get_secret_value() if settings.milvus_token else None,
                    timeout=settings.milvus_timeout_seconds,
                )

            try:
                app.state.track_index = open_index()
            except Exception as exc:  # the API still serves catalog reads; /readyz reports the problem
                log.error("vector index unavailable", uri=settings.milvus_target, error=str(exc))
                app.state.track_index = None
                # requests try again (once per 2 s), so Milvus coming back needs no restart
                app.state.index_opener = IndexOpener(open_index)
        if app.state.track_index is not None:
            try:  # a fresh process (always, on Milvus Lite) finds the served collection released
                loaded = app.state.track_index.ensure_loaded()
                log.info("vector index loaded", collection=loaded)
            except Exception as exc:  # /readyz reports it; catalog reads still work
                log.error("vector index could not be loaded", error=str(exc))
        app.state.upload_embedder = _upload_embedder(settings, encoder, app.state.track_index)
        app.state.text_search = load_text_search(settings)
        if not app.state.text_search.available:
            log.info("text search unavailable", reason=app.state.text_search.reason)
        log.info("museed api started", db=settings.sqlalchemy_url.split("@")[-1], milvus=settings.milvus_target)
        # what start-up loaded (torch, pymilvus, the ORM's mappers, the encoder) lives as long as the process:
        # frozen, the cyclic collector's full collections no longer walk it (360 ms each in a worker, the p99 of
        # every route under load; docs/BENCHMARKS.md, "Garbage-collector pauses")
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # an app made again in this process (tests) must not keep the last one's objects
            if track_index is None and app.state.track_index is not None:
                app.state.track_index.close()

    app = FastAPI(
        title="MUSEED",
        version="0.1.0",
        description="One seed song in, a playlist of similar songs out.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # /docs and /redoc are served by api.web from packaged assets: FastAPI's defaults load them from a CDN
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    _document_problems(app)
    # innermost of the three: no route reads more body than the cap (uploads: their limit plus the form's fields)
    app.add_middleware(
        BodySizeLimit,
        json_limit=settings.max_body_bytes,
        multipart_limit=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    # outermost: an overloaded process refuses at once instead of queueing requests into timeouts
    app.add_middleware(AdmissionControl, limit=settings.max_in_flight, wait_seconds=settings.admission_wait_seconds)
    # outside admission control (a request for another host takes no slot), inside the headers (its 400 has them)
    app.add_middleware(TrustedHosts, allowed_hosts=settings.allowed_hosts)
    install_security_headers(app, settings)  # outside admission control: its 503s carry the headers too
    Instrumentator().instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: DB reachable and a vector index served",
        responses={503: {"description": "not ready: the same body, with the failing check named"}},
    )
    def readyz(request: Request) -> JSONResponse:
        """DB and vector index status; 503 until both are usable."""
        checks: dict[str, Any] = {}
        ok = True
        try:
            with request.app.state.session_factory() as s:
                s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            ok, checks["database"] = False, f"error: {exc.__class__.__name__}"
        index = get_optional_index(request)  # tries to open it again when start-up could not
        if index is None:
            ok, checks["vector_index"] = False, "unavailable: Milvus could not be reached (retried every 2 s)"
        else:
            try:
                collection = index.current_collection()
                if collection is None:
                    ok, checks["vector_index"] = False, "no collection behind the alias: run `museed index`"
                elif index.load_state(collection) != "Loaded":
                    ok, checks["vector_index"] = False, f"collection {collection} is not loaded"
                else:
                    plan = index.current_plan()
                    checks["vector_index"] = {
                        "collection": collection,
                        "rows": index.count(),
                        "index_type": plan.index_type,
                        "nlist": plan.nlist,
                        "nprobe": plan.nprobe,
                        "engine": "milvus-lite" if index.is_lite else "milvus-server",
                        # the served plan (re-rank depth, exact-path threshold) and its memory per worker
                        "served": {
                            k: v for k, v in index.describe().items() if k in ("plan", "memory", "compact_store")
                        },
                    }
                    if plan.substitute_for:
                        # say plainly that the tuned index type is not what serves here
                        checks["vector_index"]["substitute_for"] = plan.substitute_for
                        checks["vector_index"]["note"] = (
                            f"{plan.substitute_for} is not available on this engine; serving {plan.index_type} "
                            f"with the plan's nlist/nprobe"
                        )
            except Exception as exc:
                # the exception's text can name internal hosts and ports: the log has it, the public body not
                log.warning("readyz_vector_index_failed", error=f"{exc.__class__.__name__}: {exc}")
                ok, checks["vector_index"] = False, f"error: {exc.__class__.__name__}"
        # informational, never a readiness failure: a server without a text tower serves everything else
        features = {"text_search": request.app.state.text_search.describe()}
        body = {"status": "ok" if ok else "unavailable", "checks": checks, "features": features}
        return JSONResponse(body, status_code=200 if ok else 503)

    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(tracks_router)
    app.include_router(playlists_router)
    app.include_router(listener_router)
    app.include_router(social_router)
    app.include_router(badges_router)
    app.include_router(uploads_router)
    app.include_router(b2b_router)
    app.include_router(b2b_admin_router)
    app.include_router(subsonic_router)
    install_subsonic_errors(app)  # Subsonic's convention under /rest only: errors are HTTP 200, status="failed"
    mount_web(app)
    return app
