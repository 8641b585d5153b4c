"""An HTTP/1.1 client whose every byte, both ways, goes through h11, the reference parser.

A test drives a server with it at the wire level: `Expect: 100-continue`, chunked bodies,
pipelined requests, disconnects at any point. h11 refuses anything RFC 9112 does not allow, so
a malformed answer (a stray byte, a body that overruns its length, two answers for one request)
fails the test where a forgiving client would have hidden it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

TIMEOUT = 30.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    interim: list[int] = field(default_factory=list)


class H11Client:
    """One connection. `request` sends one request and reads its answer; `close` hangs up."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, url: str) -> H11Client:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send(self, *events: h11.Event) -> None:
        self.writer.write(b"".join(self.conn.send(e) or b"" for e in events))
        await self.writer.drain()

    async def next_event(self, timeout: float = TIMEOUT) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
            self.conn.receive_data(data)  # b"" is the peer's EOF: h11 then says ConnectionClosed

    async def answer(self, timeout: float = TIMEOUT) -> Answer:
        """Read one final answer whole, after any 1xx; interim statuses are kept in order."""
        interim: list[int] = []
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, h11.InformationalResponse):
                interim.append(event.status_code)
                continue
            break
        if not isinstance(event, h11.Response):
            raise AssertionError(f"expected an answer, got {event!r}")
        head = event
        chunks = []
        while not isinstance(event := await self.next_event(timeout), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise AssertionError(f"expected body data, got {event!r}")
            chunks.append(bytes(event.data))
        headers = {k.decode(): v.decode() for k, v in head.headers}
        return Answer(head.status_code, headers, b"".join(chunks), interim)

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        headers: list[tuple[str, str]] | None = None,
        host: str = "localhost",
        expect: bool = False,
        chunked: bool = False,
        timeout: float = TIMEOUT,
    ) -> Answer:
        """One exchange; with `expect`, the body goes only after the server's `100 Continue`."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        head = [("host", host), *(headers or [])]
        if chunked:
            head.append(("transfer-encoding", "chunked"))
        elif body or method == "POST":
            head.append(("content-length", str(len(body))))
        if expect:
            head.append(("expect", "100-continue"))
        await self.send(h11.Request(method=method, target=target, headers=head))
        if expect:
            event = await self.next_event(timeout)
            if not isinstance(event, h11.InformationalResponse) or event.status_code != 100:
                raise AssertionError(f"expected 100 Continue, got {event!r}")
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] if chunked else [body]
        await self.send(*(h11.Data(data=p) for p in pieces if p), h11.EndOfMessage())
        answer = await self.answer(timeout)
        if expect:
            answer.interim.insert(0, 100)
        return answer

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
