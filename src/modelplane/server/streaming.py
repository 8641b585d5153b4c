"""Answers that outlive a simple request/response: server-sent event streams, and plain answers
raced against the client leaving.

Both close the source (the model's iterator of deltas) as soon as the client disconnects, so a
model can stop generating for nobody. Starlette's `StreamingResponse` notices a disconnect and
cancels its sender, but leaves the iterators suspended; `EventStream` closes them once the
response has ended, however it ended. A plain answer has no such watch at all, so
`unless_client_leaves` listens for the disconnect itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from modelplane.core import completions


class EventStream(StreamingResponse):
    """Server-sent events that close the model's iterator however the response ends."""

    def __init__(self, events: AsyncIterator[bytes], deltas: AsyncIterator[Any]) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._deltas = deltas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Starlette cancels the sender when the client disconnects; the iterators may then
            # be left suspended, so they are closed here, outside the cancelled scope.
            await close(self.body_iterator)
            await close(self._deltas)


async def unless_client_leaves(
    request: Request, work: Awaitable[Any], deltas: AsyncIterator[Any]
) -> Any:
    """`work`'s result, or None (with the generation stopped) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await close(deltas)
    return None


async def _disconnected(request: Request) -> None:
    # The body has been read, so the next message the server sends is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def close(iterator: Any) -> None:
    if isinstance(iterator, completions.Closable):
        await iterator.aclose()
