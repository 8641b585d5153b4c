"""uvicorn's HTTP/1.1 protocol, sending a response's head and body in one write.

uvicorn writes a response's status line and headers when the app sends `http.response.start`
and the body with the next message: two `write` system calls per answer, and on loopback each
wakes the client. The profile of batched V1 at 64 connections put the two writes at 28% of the
server's time (bench/NOTES.md, "Batching, 64 connections: uvicorn's HTTP layer"). Here the head
waits, at most until the event loop's next turn, for the body that follows it, and both leave in
one write: an app that sends its whole answer at once (every inference answer) pays one system
call; a stream's head still leaves on the next loop turn when its first chunk is not ready.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD = b"HTTP/1.1 "  # every response head uvicorn writes (100 Continue included) starts so


class _OneWrite:
    """A transport whose response heads wait for what follows them (one loop turn at most)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(b"".join((held, data)))
        elif data.startswith(_HEAD):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # the rest is the transport's own
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over `_OneWrite` (`uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _OneWrite(transport, self.loop)  # type: ignore[assignment]
