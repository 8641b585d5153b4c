"""The hop from gateway to replica: a lean HTTP/1.1 client with a keep-alive pool per replica.

Measured on this project's two-core machine, httpx spent about 1.6 ms of CPU per request on
this hop, several times what the replica spends answering, so the gateway speaks HTTP/1.1 to
replicas itself: one `asyncio.Protocol` per connection, responses parsed by httptools (the
parser uvicorn uses), the request written in one call. Bodies are bytes in and a stream of
chunks out, never decoded.

One connection carries one exchange at a time, and an answer belongs to the request that was
written on it, so the rules that keep one client's answer from reaching another are here:
interim (1xx) answers are skipped, never taken for the answer; a byte that arrives when no
answer is expected (after the answer ended, or on an idle connection) closes the connection;
and only a connection whose answer was read whole goes back to the pool.

A failure before any answer began is `Unreachable` (the replica is gone or going: safe to send
elsewhere); a kept-alive connection the replica closed while idle is retried once on a fresh
connection, so a quiet replica is never mistaken for a dead one. Connecting is bounded by
the client's `connect_timeout`; waiting for the answer's head, and each wait for more of its
body, by the request's `read_timeout`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import cast
from urllib.parse import urlsplit

import httptools

_PAUSE_AT = 1 << 20  # buffered body bytes before reading from the replica pauses
_MAX_IDLE = 256


class Unreachable(Exception):
    """The request got no answer: refused, or the connection closed before a response began."""


class Dropped(Exception):
    """A fresh connection took the whole request and closed without answering: the replica
    died on it (a crash, an OOM kill). Not retried elsewhere: the same request could take the
    next replica down too, and a POST must not run twice."""


class Truncated(Exception):
    """The replica's answer broke off part way through the body."""


class ReadTimeout(Exception):
    """The replica took the request and sent nothing for `read_timeout` seconds."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.expecting = False  # a request was written and its final answer has not ended
        self.interim = False  # the message being parsed is a 1xx, not the answer
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.keep_alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.expecting:
            self.abort()  # nobody asked: whatever this is must not become the next answer
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(Truncated("the replica switched protocols, which was not asked for"))
            self.abort()
        except httptools.HttpParserError as exc:
            self._fail(Truncated(f"bad answer from replica: {exc}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head is not None and not self.head.done():
            self.head.set_exception(Unreachable("replica closed the connection before answering"))
        elif not self.complete:
            self._fail(Truncated("replica closed the connection mid-answer"))

    def _fail(self, error: Exception) -> None:
        self.error = error
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def on_message_begin(self) -> None:
        if not self.expecting:  # a second message in the same read, after the answer ended
            self.abort()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.expecting:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self.expecting:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # 100 Continue, 103 Early Hints: informational, the answer is still to come.
            self.interim = True
            self.headers = []
            return
        self.status = status
        if self.head is not None and not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if not self.expecting:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _PAUSE_AT and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.expecting:
            return
        if self.interim:
            self.interim = False
            return
        self.keep_alive = self.parser.should_keep_alive()  # only meaningful inside the callback
        self.complete = True
        self.expecting = False
        self._wake()

    def start(self, data: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        self.status, self.headers, self.complete, self.error = 0, [], False, None
        self.keep_alive = self.interim = False
        self.expecting = True
        self.head = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.head

    def abort(self) -> None:
        self.closed = True
        self.expecting = False
        if self.transport is not None:
            self.transport.abort()


def _expire(head: asyncio.Future[None]) -> None:
    if not head.done():
        head.set_exception(TimeoutError())


class Response:
    def __init__(
        self, pool: Pool, conn: _Connection, head_only: bool, read_timeout: float | None
    ) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self._pool = pool
        self._conn: _Connection | None = conn
        self._read_timeout = read_timeout
        self._reusable = not head_only  # the parser would take the next answer for a body
        if head_only:
            conn.complete = True
            conn.expecting = False

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        assert conn is not None
        while True:
            if conn.chunks:
                chunk = conn.chunks.popleft()
                conn.buffered -= len(chunk)
                if conn.buffered <= _PAUSE_AT and conn.transport is not None and not conn.closed:
                    conn.transport.resume_reading()
                yield chunk
            elif conn.complete:
                return
            elif conn.error is not None:
                raise conn.error
            else:
                conn.waiter = asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(self._read_timeout):
                        await conn.waiter
                except TimeoutError:
                    conn.abort()
                    raise ReadTimeout(
                        f"the replica sent nothing more for {self._read_timeout:g}s"
                    ) from None

    def close(self) -> None:
        """Back to the pool when the answer was read whole and may be kept alive; else closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        reusable = self._reusable and conn.complete and not conn.chunks and not conn.closed
        if reusable and conn.keep_alive:
            self._pool.give_back(conn)
        else:
            conn.abort()


class Pool:
    """Keep-alive connections to one replica."""

    def __init__(self, url: str, connect_timeout: float | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.authority = parts.netloc.encode()
        self.connect_timeout = connect_timeout
        self.idle: list[_Connection] = []
        self.closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        read_timeout: float | None = None,
    ) -> Response:
        lines = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), b"host: ", self.authority]
        for name, value in headers:
            lines += (b"\r\n", name, b": ", value)
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            lines += (b"\r\ncontent-length: ", str(len(body)).encode())
        lines += (b"\r\n\r\n", body)
        data = b"".join(lines)
        while self.idle:
            conn = self.idle.pop()
            if conn.closed:
                continue
            try:
                return await self._exchange(conn, data, method, read_timeout)
            except Unreachable:
                continue  # closed by the replica while idle: try the next, or a fresh one
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, conn = await loop.create_connection(_Connection, self.host, self.port)
        except TimeoutError:
            raise Unreachable(
                f"cannot connect to {self.host}:{self.port}: "
                f"no answer within {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise Unreachable(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        conn.transport = transport  # uvloop may call connection_made only after this returns
        try:
            return await self._exchange(conn, data, method, read_timeout)
        except Unreachable as exc:
            raise Dropped(f"{self.host}:{self.port} {exc}") from None

    async def _exchange(
        self, conn: _Connection, data: bytes, method: str, read_timeout: float | None
    ) -> Response:
        head = conn.start(data)
        # A bare timer, not asyncio.timeout(): this is every request's path, and most answers
        # come long before it fires.
        timer = None
        if read_timeout is not None:
            timer = asyncio.get_running_loop().call_later(read_timeout, _expire, head)
        try:
            await head
        except TimeoutError:
            conn.abort()
            raise ReadTimeout(
                f"{self.host}:{self.port} took the request and did not answer "
                f"within {read_timeout:g}s"
            ) from None
        except BaseException:
            conn.abort()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return Response(self, conn, method == "HEAD", read_timeout)

    def give_back(self, conn: _Connection) -> None:
        if not self.closed and len(self.idle) < _MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Close idle connections; those in use close when their answer ends."""
        self.closed = True
        for conn in self.idle:
            conn.abort()
        self.idle.clear()


class Client:
    def __init__(self, *, connect_timeout: float | None = None) -> None:
        self.connect_timeout = connect_timeout
        self._pools: dict[str, Pool] = {}

    def pool(self, url: str) -> Pool:
        pool = self._pools.get(url)
        if pool is None:
            pool = self._pools[url] = Pool(url, self.connect_timeout)
        return pool

    def prune(self, keep: set[str]) -> None:
        for url in [u for u in self._pools if u not in keep]:
            self._pools.pop(url).close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
