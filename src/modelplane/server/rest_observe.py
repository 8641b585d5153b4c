"""ASGI middleware around the REST app: request ids, the access log, in-flight and request metrics.

Written as plain ASGI rather than Starlette's `BaseHTTPMiddleware`, which would add a task and a
stream copy to every request. The request id is the client's `x-request-id` when it sends one,
else a new one; either way it is returned in the response's `x-request-id` header.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelplane.observability import logs
from modelplane.observability.metrics import ServerMetrics
from modelplane.server.repository import ModelRepository

_HEADER = logs.REQUEST_ID_HEADER.encode()


class ObserveRequests:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics, repository: ModelRepository) -> None:
        self.app = app
        self.metrics = metrics
        self.repository = repository

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope) or logs.new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        protocol = _protocol(scope["path"])
        status = 500
        id_header = (_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        in_flight = self.metrics.in_flight_for(protocol)
        in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            in_flight.dec()
            self.metrics.observe_request(self._model(scope), protocol, str(status), elapsed)
            client = scope.get("client")
            logs.access(
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                request_id,
            )

    def _model(self, scope: Scope) -> str:
        # Only names the repository knows become label values: a scan of made-up model
        # names must not grow the metric without bound.
        params: dict[str, Any] = scope.get("path_params") or {}
        name = params.get("name", "")
        return name if name in self.repository else ""


def _request_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == _HEADER:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _protocol(path: str) -> str:
    if path.startswith("/v2"):
        return "v2"
    if path.startswith("/v1"):
        return "v1"
    return "other"
