"""The router's HTTP side: every POST runs the graph; `/readyz` says whether it takes traffic.

As KServe's router, any path is the graph (clients post to `/`, or keep the model paths they
used with a single service), the answer is the graph's status and body, and JSON answers say so
in their content type. `serverRead` bounds reading the request (408), `serverWrite` the whole
graph (504, KServe's error body); `serverIdle` is the keep-alive the server itself applies.
A raw ASGI app: nothing here needs a router or middleware.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from modelplane.graph import executor as executor_
from modelplane.graph import headers as headers_
from modelplane.graph import transport

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
READY_PATH = "/readyz"


class RouterApp:
    def __init__(
        self,
        executor: executor_.Executor,
        *,
        propagate: Sequence[re.Pattern[str]] = (),
    ) -> None:
        self.executor = executor
        self.propagate = tuple(propagate)
        self.stopping = False
        timeouts = executor.graph.timeouts
        self.server_read = timeouts.server_read or None
        self.server_write = timeouts.server_write or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] in (READY_PATH, "/healthz"):
            status = 503 if self.stopping else 200
            await _answer(send, transport.Reply(status, b'{"status":"ok"}'), "")
            return
        try:
            async with asyncio.timeout(self.server_read):
                body = await _read(receive)
        except TimeoutError:
            reply = transport.failure(408, f"the request was not read within {self.server_read}s")
            return await _answer(send, reply, "")
        if body is None:
            return  # the client left
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        forwarded, request_id = headers_.propagated(raw, self.propagate)
        try:
            async with asyncio.timeout(self.server_write):
                reply = await self.executor.run(body, forwarded)
        except TimeoutError:
            reply = transport.failure(
                504, f"the graph did not answer within serverWrite ({self.server_write:g}s)"
            )
        await _answer(send, reply, request_id)


async def _read(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, reply: transport.Reply, request_id: str) -> None:
    content_type = reply.content_type
    if content_type is None or "json" not in content_type:
        content_type = "application/json" if _is_json(reply.body) else content_type
    headers = [(b"content-length", str(len(reply.body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if request_id:
        headers.append((headers_.REQUEST_ID.encode(), request_id.encode("latin-1")))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True
