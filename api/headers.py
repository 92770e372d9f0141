"""Security headers on every response, and CORS only for the origins the settings allow (same-origin otherwise).

A plain ASGI middleware (no `BaseHTTPMiddleware`): it adds headers to the response start and passes bodies
through untouched, except on the three documentation pages, whose inline scripts it hashes into their policy."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from museed.settings import Settings

#: FastAPI's Swagger UI and its OAuth2 redirect page carry an inline <script>; ReDoc an inline <style>
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
#: the web page: its shell and the ES modules, styles and icon it loads, all from this origin
PAGE_PREFIXES = ("/web/",)
#: listener and B2B APIs: responses to a request carrying credentials (and the auth routes' tokens) are never stored
API_PREFIXES = ("/api/", "/v1/")
CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})

#: the page: scripts and styles only from files of this origin (no inline code, no eval), nothing framed or framing
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: JSON, SVG, audio and exports: a response opened as a document runs nothing and loads nothing
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#: the docs pages: their own inline scripts by hash; Swagger UI's data: icons; ReDoc's injected styles and its
#: blob: search worker (styles cannot be hashed: ReDoc writes them at run time)
DOCS_CSP = (
    "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


#: the headers of a response no middleware sees (the 500 rendered outermost, after every middleware has given up)
ERROR_HEADERS: dict[str, str] = {
    **{k.decode(): v.decode() for k, v in _COMMON},
    "content-security-policy": API_CSP,
    "cache-control": "no-store",
}


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions (`'sha256-...'`) for each inline <script> of `html`, in page order."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(html: bytes) -> str:
    """The Content-Security-Policy of a documentation page: its inline scripts allowed by hash, no others."""
    return DOCS_CSP.format(scripts=" ".join(["'self'", *inline_script_hashes(html)]))


class SecurityHeaders:
    """Adds the headers above to every HTTP response; `Strict-Transport-Security` when `hsts_max_age` > 0."""

    def __init__(self, app: ASGIApp, hsts_max_age: int = 0) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode() if hsts_max_age > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        no_store = path.startswith(API_PREFIXES) and (
            path.startswith("/api/auth/") or any(name in CREDENTIAL_HEADERS for name, _ in scope["headers"])
        )
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send, no_store)
            return
        policy = PAGE_CSP if path == "/" or path.startswith(PAGE_PREFIXES) else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(message.get("headers", []), policy, no_store)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send, no_store: bool) -> None:
        # the page is small and built by the server alone (no request data in it): hold it to hash its scripts
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            start["headers"] = self._headers(start.get("headers", []), docs_policy(body), no_store)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)

    def _headers(
        self, headers: Iterable[tuple[bytes, bytes]], policy: str, no_store: bool
    ) -> list[tuple[bytes, bytes]]:
        out = [(k, v) for k, v in headers if not (no_store and k.lower() == b"cache-control")]
        present = {k.lower() for k, _ in out}
        extra = [*_COMMON, (b"content-security-policy", policy.encode())]
        if self.hsts is not None:
            extra.append((b"strict-transport-security", self.hsts))
        if no_store:
            extra.append((b"cache-control", b"no-store"))
        # a route that set one of these itself (a stricter one, say) keeps its own
        out.extend((k, v) for k, v in extra if k not in present)
        return out


def _route_path(scope: Scope) -> str:
    """The path as the app's routes see it (a proxy's `root_path` prefix removed)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    """Register CORS (only when `cors_allow_origins` lists origins) and, outside it, the security headers, so that
    preflight answers and every refusal carry them too."""
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            # bearer tokens and API keys travel in headers, never in cookies: no credentialed CORS is needed
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=["Retry-After", "RateLimit", "RateLimit-Policy", "Content-Disposition"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, hsts_max_age=settings.hsts_max_age_seconds)
