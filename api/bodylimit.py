"""A cap on request bodies, before any route reads them: JSON and other bodies at `max_body_bytes`, multipart
forms (uploads) at the upload limit plus room for the form's own fields.

A plain ASGI middleware. A declared `Content-Length` over the cap is refused at once, without reading the body;
a chunked body is counted as it streams and refused as soon as it passes the cap, so neither memory nor the
temporary file Starlette spools a multipart form into grows past it. The refusal is a 413 problem+json."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_JSON

#: what a multipart form may carry beyond its file: boundaries, part headers and the small text fields
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the cap. An `HTTPException`, so FastAPI's body parsing
    passes it through unchanged and the app's handler renders it as a 413 problem."""

    #: the problem's `reason`, as the upload route's own size refusal says it
    reason = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodySizeLimit:
    """ASGI middleware: at most `json_limit` bytes of body, or `multipart_limit` for `multipart/form-data`."""

    def __init__(self, app: ASGIApp, json_limit: int, multipart_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.multipart_limit = multipart_limit

    def limit_for(self, scope: Scope) -> int:
        content_type = (_header(scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()
        return self.multipart_limit if content_type == b"multipart/form-data" else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            # a route that streams the body itself (not through FastAPI's parsing) lets it escape to here
            if started:
                raise
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": "https://museed.dev/problems/http",
                "title": "Payload too large",
                "status": 413,
                "detail": f"the request body is larger than {limit} bytes",
                "instance": scope["path"],
                "reason": BodyTooLarge.reason,
            }
        ).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
