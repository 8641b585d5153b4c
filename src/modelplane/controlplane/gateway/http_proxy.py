"""The HTTP data path: a raw ASGI reverse proxy from :8080 to the replicas.

The body is read once as bytes and sent on untouched (JSON, binary tensors and gzip alike), so
the gateway never pays for decoding. The answer streams back chunk by chunk as the replica sends
it (server-sent events included) with the hop-by-hop headers dropped and
`x-modelplane-revision` added. A replica that refuses or drops the connection before answering
is going away: the request is retried on another replica or held by the activator, never failed
while another replica is or becomes ready. Nothing here goes through Starlette's router: the
path, host and headers are read straight off the ASGI scope.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from modelplane.controlplane.gateway import balancer as balancer_
from modelplane.controlplane.gateway import logger as logger_
from modelplane.controlplane.gateway import routes as routes_
from modelplane.controlplane.gateway import upstream

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# The server running this app (uvicorn) writes its own.
_RESPONSE_DROPPED = HOP_BY_HOP | {b"date", b"server"}
_JSON = [(b"content-type", b"application/json")]
_HEALTHZ = orjson.dumps({"status": "ok"})


async def send_error(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HttpProxy:
    def __init__(
        self,
        balancer: balancer_.Balancer,
        request_logger: logger_.RequestLogger,
        clock: Callable[[], float],
    ) -> None:
        self.balancer = balancer
        self.request_logger = request_logger
        self.clock = clock
        self.client = upstream.Client()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"] == "/healthz":
                await send({"type": "http.response.start", "status": 200, "headers": _JSON})
                await send({"type": "http.response.body", "body": _HEALTHZ})
                return
            await self._proxy(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = ""
        headers: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            if name not in HOP_BY_HOP:
                headers.append((name, value))
        route, why = self.balancer.table.resolve(host, scope["path"])
        if route is None:
            return await send_error(send, 404, why)
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            if route.timeout is None:
                await self._forward(route, scope, headers, body, tracked, None)
            else:
                async with asyncio.timeout(route.timeout):
                    await self._forward(route, scope, headers, body, tracked, route.timeout)
        except TimeoutError:
            if started:  # the answer began: all that is left is to cut it off
                raise
            await send_error(send, 504, f"no answer within the timeout of {route.timeout:g}s")
        except balancer_.GatewayError as exc:
            await send_error(send, exc.status, str(exc))

    async def _forward(
        self,
        route: routes_.ServiceRoute,
        scope: Scope,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        send: Send,
        timeout: float | None,
    ) -> None:
        ticket = balancer_.Ticket()
        deadline = None if timeout is None else self.clock() + timeout
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        path = target.decode("latin-1")
        method = scope["method"]
        log_request = logger_.wants(route.logger, "request")
        request_id = ""
        if route.logger is not None:
            request_id = next((v.decode() for k, v in headers if k == b"x-request-id"), "")
            request_id = request_id or str(uuid.uuid4())
        try:
            while True:
                lease = await self.balancer.acquire(route, ticket, deadline)
                pool = self.client.pool(lease.backend.http_url)
                try:
                    response = await pool.request(method, path, headers, body)
                except upstream.Unreachable:
                    ticket.excluded.add(lease.backend.name)
                    self.balancer.release(lease)
                    continue
                except upstream.Dropped as exc:
                    self.balancer.release(lease)
                    raise balancer_.BadGateway(
                        f"the replica closed the connection without answering ({exc}); "
                        "it may have crashed on this request: see `modelplane logs`"
                    ) from None
                except BaseException:
                    self.balancer.release(lease)
                    raise
                break
            if log_request:
                self.request_logger.log(
                    route,
                    "request",
                    request_id=request_id,
                    revision=lease.target.revision,
                    endpoint=path,
                    body=body,
                    content_type=_header(headers, b"content-type"),
                )
            try:
                await self._relay(route, lease, response, send, request_id, path)
            finally:
                response.close()
                self.balancer.release(lease)
        finally:
            self.balancer.finish(ticket)

    async def _relay(
        self,
        route: routes_.ServiceRoute,
        lease: balancer_.Lease,
        response: upstream.Response,
        send: Send,
        request_id: str,
        path: str,
    ) -> None:
        out = [(k, v) for k, v in response.headers if k.lower() not in _RESPONSE_DROPPED]
        length = response.header(b"content-length")
        if length is not None:
            out.append((b"content-length", length))
        out.append((b"x-modelplane-revision", lease.target.revision.encode()))
        keep: list[bytes] | None = [] if logger_.wants(route.logger, "response") else None
        kept = 0
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if keep is not None:
                kept += len(chunk)
                keep.append(chunk)
                if kept > self.request_logger.max_body:
                    keep = None
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if keep is not None:
            self.request_logger.log(
                route,
                "response",
                request_id=request_id,
                revision=lease.target.revision,
                endpoint=path,
                body=b"".join(keep),
                content_type=_header(response.headers, b"content-type"),
            )

    async def close(self) -> None:
        self.client.close()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    value = next((v for k, v in headers if k.lower() == name), None)
    return None if value is None else value.decode("latin-1")
