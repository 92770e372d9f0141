"""Admission control: a process serves at most `limit` requests at once; the next wait a short, bounded time for
a slot and are then refused at once with 503 + `Retry-After`, so an overloaded process answers quickly instead of
queueing requests until they time out (and instead of piling writers onto SQLite until its lock wait expires).

Probes (`/healthz`, `/readyz`) and `/metrics` are never held back: an orchestrator must see an overloaded
process as alive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import PROBLEM_JSON

IN_FLIGHT = Gauge("museed_requests_in_flight", "requests being served by this process (admission control)")
REFUSED = Counter("museed_requests_refused_total", "requests refused by admission control with 503")


class AdmissionControl:
    """ASGI middleware: a semaphore of `limit` slots; a request that waits `wait_seconds` without one gets 503."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        wait_seconds: float,
        retry_after_seconds: int = 1,
        exempt: Iterable[str] = ("/healthz", "/readyz", "/metrics"),
    ) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.retry_after = str(max(1, retry_after_seconds))
        self.exempt = frozenset(exempt)
        self._slots: asyncio.Semaphore | None = None  # made on first use, inside the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            REFUSED.inc()
            await self._refuse(scope, send)
            return
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.dec()
            self._slots.release()

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "https://museed.dev/problems/overloaded",
                "title": "Service unavailable",
                "status": 503,
                "detail": f"the service is at capacity ({self.limit} requests at once); retry after "
                f"{self.retry_after} s",
                "instance": scope["path"],
                "reason": "overloaded",
            }
        ).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", self.retry_after.encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
