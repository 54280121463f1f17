"""Refuse oversized request bodies before they are read (413), as a plain ASGI middleware.

The declared Content-Length is checked up front; a body without one (chunked) is counted as it
streams, and the request is answered 413 as soon as it passes the limit, so a client cannot
fill the disk or memory by leaving the length out.
"""

from __future__ import annotations

import json


class BodySizeLimit:
    """ASGI middleware: bodies over `max_bytes` on `paths` get 413 with a JSON message."""

    def __init__(self, app, max_bytes: int, paths: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or (self.paths and scope["path"] not in self.paths):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send, int(length))

        seen = 0
        over = False
        refused = False

        async def counting_receive():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Stop feeding the body: the app sees a disconnect, and whatever it answers
                    # is replaced by the 413 below.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal refused
            if not over:
                return await send(message)
            if not refused:
                refused = True
                await self._refuse(send, seen)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not refused:
            await self._refuse(send, seen)

    async def _refuse(self, send, size: int) -> None:
        body = json.dumps({"detail": f"request body of {size / 1e6:.1f} MB is over the upload limit of "
                                     f"{self.max_bytes / 1e6:.1f} MB"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

