"""Routes of the web page and of the offline API docs: `/` serves the single-page app (hash routing, so no other
page route exists), `/web/...` its modules and styles, `/docs` and `/redoc` with Swagger UI and ReDoc from the
`fastapi-offline` package instead of a CDN."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.badges.service import RULES

STATIC_DIR = Path(__file__).parent / "static"
#: Swagger UI 5 (OpenAPI 3.1), ReDoc and a favicon, shipped inside the fastapi-offline wheel
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
WEB_PREFIX = "/web"
DOCS_ASSETS_PREFIX = "/web/docs-assets"
#: ReDoc's sidebar shows Redocly's logo from its CDN; offline that is a failed request, so it points here instead
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

router = APIRouter(include_in_schema=False)


@cache
def _index_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


def page_config() -> dict[str, object]:
    """What the page needs from the server before its first API call: every badge a listener can earn (the
    badge API lists only the earned ones), from the one table that awards them."""
    return {"badges": [{"badge": k, "title": r.title, "description": r.description} for k, r in RULES.items()]}


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The web page's shell; its views are routed in the browser (`/#/create`, `/#/playlist/<id>`, ...)."""
    # "<" as its JSON escape: the inline <script> cannot be closed early by a badge text
    config = json.dumps(page_config()).replace("<", "\\u003c")
    body = _index_template().replace("{{CONFIG_JSON}}", config)
    return HTMLResponse(body, headers={"Cache-Control": "no-cache"})


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json, every asset from this origin."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{DOCS_ASSETS_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS_PREFIX}/favicon.png",
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (as FastAPI's default docs serve it)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over /openapi.json, without the Google Fonts it asks for by default."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{root}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{DOCS_ASSETS_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@cache
def _redoc_bundle() -> bytes:
    bundle = (DOCS_ASSETS_DIR / "redoc.standalone.js").read_text(encoding="utf-8")
    return bundle.replace(_REDOC_LOGO, f"{WEB_PREFIX}/favicon.svg").encode()


@router.get("/redoc/redoc.standalone.js")
def redoc_bundle() -> Response:
    """ReDoc's bundle with its one external image (the Redocly logo) served from this origin."""
    return Response(_redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def mount_web(app: FastAPI) -> None:
    """Serve the page, its assets and the offline docs from `app` (created with docs_url=None, redoc_url=None)."""
    # the more specific mount first: Starlette matches mounts by prefix, in order
    app.mount(DOCS_ASSETS_PREFIX, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    app.mount(WEB_PREFIX, StaticFiles(directory=STATIC_DIR), name="web")
    app.include_router(router)
