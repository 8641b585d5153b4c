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
        # Met here: the body is read whole before the request goes on, so the replica must
        # not be asked for a `100 Continue` of its own.
        b"expect",
    }
)
# The server running this app (uvicorn) writes its own.
_RESPONSE_DROPPED = HOP_BY_HOP | {b"date", b"server"}
_JSON = [(b"content-type", b"application/json")]
_CLOSE = [(b"connection", b"close")]
_HEALTHZ = orjson.dumps({"status": "ok"})
_WATCH_AFTER = 0.05  # seconds before a request's client is watched for leaving


async def send_error(send: Send, status: int, message: str, *, close: bool = False) -> None:
    """A JSON error; `close` ends the connection, for an answer sent before the body was read."""
    body = orjson.dumps({"error": message})
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(_CLOSE if close else ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The header names a `Connection` header lists: hop-by-hop for this one message."""
    named = [v for k, v in headers if k.lower() == b"connection"]
    return frozenset(t.strip().lower() for value in named for t in value.split(b",") if t.strip())


class _Exchange:
    """One request's standing against its client: has the answer ended, has the client left."""

    __slots__ = ("client_left", "ended")

    def __init__(self) -> None:
        self.ended = False
        self.client_left = False


class HttpProxy:
    def __init__(
        self,
        balancer: balancer_.Balancer,
        request_logger: logger_.RequestLogger,
        clock: Callable[[], float],
        *,
        max_request_size: int = 64 << 20,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 300.0,
    ) -> None:
        self.balancer = balancer
        self.request_logger = request_logger
        self.clock = clock
        self.max_request_size = max_request_size
        self.read_timeout = read_timeout
        self.client = upstream.Client(connect_timeout=connect_timeout)

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
        length = -1
        expect: bytes | None = None
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        dropped = HOP_BY_HOP
        has_body = False
        for name, value in raw:
            if name == b"connection":
                dropped = HOP_BY_HOP | connection_tokens(raw)
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
                has_body = has_body or length > 0
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"expect":
                expect = value.strip().lower()
        headers = [(n, v) for n, v in raw if n not in dropped]
        if expect is not None and expect != b"100-continue":
            return await send_error(
                send, 417, f"unsupported expectation {expect.decode('latin-1')!r}", close=has_body
            )
        if length > self.max_request_size:
            return await send_error(send, 413, self._too_large(), close=True)
        route, why = self.balancer.table.resolve(host, scope["path"])
        if route is None:
            return await send_error(send, 404, why, close=has_body)
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_size:
                return await send_error(send, 413, self._too_large(), close=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        exchange = _Exchange()
        task = asyncio.current_task()
        assert task is not None
        # Most answers come in a few milliseconds: a timer costs less than a task, so only a
        # request still going after `_WATCH_AFTER` gets a task watching for its client to leave.
        watchers: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        timer = loop.call_later(
            _WATCH_AFTER, lambda: watchers.append(loop.create_task(_watch(receive, task, exchange)))
        )
        try:
            await self._answer(route, scope, headers, body, send, exchange)
        except asyncio.CancelledError:
            if exchange.client_left and task.uncancel() == 0:
                return  # the client went away: its request was cancelled, nothing to answer
            raise
        finally:
            timer.cancel()
            for watcher in watchers:
                watcher.cancel()

    def _too_large(self) -> str:
        return f"request body larger than the gateway's limit of {self.max_request_size} bytes"

    async def _answer(
        self,
        route: routes_.ServiceRoute,
        scope: Scope,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        send: Send,
        exchange: _Exchange,
    ) -> None:
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            if not message.get("more_body", False) and message["type"] == "http.response.body":
                exchange.ended = True  # from here a disconnect is the connection's end, not ours
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
        except upstream.ReadTimeout as exc:
            if started:
                raise
            await send_error(send, 504, str(exc))
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
        metadata: dict[str, list[str]] | None = None
        if route.logger is not None:
            request_id = logger_.request_id(headers) or str(uuid.uuid4())
            metadata = logger_.metadata(route.logger, headers)
        try:
            while True:
                lease = await self.balancer.acquire(route, ticket, deadline)
                pool = self.client.pool(lease.backend.http_url)
                try:
                    # The route's timeout, when set, bounds the whole request already.
                    wait = self.read_timeout if timeout is None else None
                    response = await pool.request(method, path, headers, body, wait)
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
                    metadata=metadata,
                )
            try:
                await self._relay(route, lease, response, send, request_id, path, metadata)
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
        metadata: dict[str, list[str]] | None = None,
    ) -> None:
        dropped = _RESPONSE_DROPPED | connection_tokens(response.headers)
        out = [(k, v) for k, v in response.headers if k.lower() not in dropped]
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
                metadata=metadata,
            )

    async def close(self) -> None:
        self.client.close()


async def _watch(receive: Receive, request: asyncio.Task[Any], exchange: _Exchange) -> None:
    """Cancel `request` if its client disconnects before the answer ended.

    Once the body is read, an ASGI server's `receive` returns only at a disconnect, so a request
    held by the activator, queued, or waiting on a slow replica stops counting and its upstream
    connection is closed the moment nobody waits for it.
    """
    message = await receive()
    if message["type"] == "http.disconnect" and not exchange.ended:
        exchange.client_left = True
        request.cancel()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    value = next((v for k, v in headers if k.lower() == name), None)
    return None if value is None else value.decode("latin-1")
