"""Bearer-token authentication for every request, before any routing.

The token lives in the kubeconfig `modelplane up` writes; compared in constant time.
"""

from __future__ import annotations

import hmac

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelplane.controlplane import errors


class BearerAuth:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        error = errors.Unauthorized("Unauthorized: a valid bearer token is required")
        body = orjson.dumps(error.to_status())
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="modelplane"')]})
        await send({"type": "http.response.body", "body": body})
