"""The Host header allow-list (`MUSEED_ALLOWED_HOSTS`): export links and `audio_url` are built from
`request.base_url`, that is from the Host header, so a request naming another host is refused before any route
runs, and a shared cache cannot be poisoned with links to it.

Starlette's `TrustedHostMiddleware` with its patterns (exact names, `*.example.com`, `*`), its Host parsing and its
match; the refusal is a 400 problem+json, `reason: untrusted_host`, instead of its plain text."""

from __future__ import annotations

from starlette._utils import parse_host_header
from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from api.errors import problem


class TrustedHosts(TrustedHostMiddleware):
    """`TrustedHostMiddleware` without its `www.` redirect, answering an unlisted or missing Host with a problem."""

    def _trusted(self, host: str) -> bool:
        # Starlette's own match: an exact name, or a "*.example.com" pattern's suffix
        return any(host == p or (p.startswith("*") and host.endswith(p[1:])) for p in self.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        parsed = parse_host_header(Headers(scope=scope).get("host"))
        if parsed is not None and self._trusted(parsed.host.lower()):
            await self.app(scope, receive, send)
            return
        refusal = problem(
            Request(scope),
            400,
            "Bad request",
            "this server does not answer for that Host header",
            "bad-request",
            reason="untrusted_host",
        )
        await refusal(scope, receive, send)
