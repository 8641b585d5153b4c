"""The requests that make up a model server's traffic, answered in plain ASGI.

Inference (`POST /v1/models/NAME:predict`, `POST /v2/models/NAME[/versions/V]/infer`) and the
health probes skip Starlette's router, request and response objects: the path is matched with
string operations, the body read straight off `receive`, and the answer sent as two messages.
Everything else goes to the Starlette app behind, which owns the rest of the routes. The
profile in bench/NOTES.md shows why: routing and response objects cost more than the model.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from modelplane.core import errors
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import v1, v2
from modelplane.server import bodies
from modelplane.server.dataplane import DataPlane

log = logging.getLogger(__name__)

_JSON = (b"content-type", b"application/json")
_BINARY = (b"content-type", b"application/octet-stream")
_LIVE = v2.dumps({"live": True})
_READY = {True: v2.dumps({"ready": True}), False: v2.dumps({"ready": False})}
_V2 = "/v2/models/"
_V1 = "/v1/models/"


class HotPath:
    def __init__(self, fallback: ASGIApp, dataplane: DataPlane, max_request_size: int) -> None:
        self.fallback = fallback
        self.dataplane = dataplane
        self.limit = max_request_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = _match(scope["path"])
            if route is not None:
                kind, args = route
                method = scope["method"]
                if method != ("GET" if kind in ("live", "ready") else "POST"):
                    message = f"{method} is not allowed on {scope['path']}"
                    return await _send(send, 405, wire_errors.error_body(message))
                if kind == "live":
                    return await _send(send, 200, _LIVE)
                if kind == "ready":
                    ready = await self.dataplane.ready()
                    return await _send(send, 200 if ready else 503, _READY[ready])
                handler = self._infer if kind == "infer" else self._predict
                return await self._guarded(handler, scope, receive, send, *args)
        await self.fallback(scope, receive, send)

    async def _guarded(
        self, handler: Any, scope: Scope, receive: Receive, send: Send, *args: Any
    ) -> None:
        scope["path_params"] = {"name": args[0]}  # for the request metrics' model label
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await bodies.read(
                receive,
                self.limit,
                headers.get("content-length"),
                headers.get("content-encoding"),
            )
            await handler(send, headers, body, *args)
        except bodies.ClientDisconnected:
            return
        except Exception as exc:
            await send_error(send, exc)

    async def _predict(self, send: Send, headers: dict[str, str], body: bytes, name: str) -> None:
        result = await self.dataplane.predict(name, v1.decode(body), headers)
        await _send(send, 200, v1.encode(result))

    async def _infer(
        self, send: Send, headers: dict[str, str], body: bytes, name: str, version: str | None
    ) -> None:
        header_length = headers.get(v2.HEADER_LENGTH)
        if header_length is not None and not bodies.is_count(header_length):
            raise errors.InvalidInput(f"{v2.HEADER_LENGTH} must be a byte count")
        request = v2.decode_request(
            body, name, version, int(header_length) if header_length is not None else None
        )
        if request.id is None:
            request.id = headers.get("x-request-id")
        response = await self.dataplane.infer(request, headers)
        encoded, json_length = v2.encode_response(response, request)
        if json_length is None:
            await _send(send, 200, encoded)
        else:
            extra = (v2.HEADER_LENGTH.encode(), str(json_length).encode())
            await _send(send, 200, encoded, _BINARY, extra)


def _match(path: str) -> tuple[str, tuple[str, ...]] | None:
    """Which hot route a path is, with its arguments; None for every other path."""
    if path.startswith(_V2) and path.endswith("/infer"):
        parts = path[len(_V2) : -len("/infer")].split("/")
        if len(parts) == 1 and parts[0]:
            return "infer", (parts[0], None)  # type: ignore[return-value]
        if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
            return "infer", (parts[0], parts[2])
    elif path.startswith(_V1) and path.endswith(":predict"):
        name = path[len(_V1) : -len(":predict")]
        if name and "/" not in name:
            return "predict", (name,)
    elif path == "/v2/health/live":
        return "live", ()
    elif path == "/v2/health/ready":
        return "ready", ()
    return None


async def _send(
    send: Send, status: int, body: bytes, content_type: tuple[bytes, bytes] = _JSON, *extra: Any
) -> None:
    headers = [content_type, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wire_error(exc: BaseException) -> tuple[int, bytes]:
    """The HTTP status and `{"error": ...}` body for an exception; server faults are logged."""
    status = wire_errors.status_of(exc)
    if status.http >= 500 and not isinstance(exc, errors.ModelplaneError):
        log.error("unexpected error", exc_info=exc)
    elif status.http >= 500:
        log.warning("%s", exc)
    return status.http, wire_errors.error_body(wire_errors.message_of(exc))


async def send_error(send: Send, exc: BaseException) -> None:
    await _send(send, *wire_error(exc))
