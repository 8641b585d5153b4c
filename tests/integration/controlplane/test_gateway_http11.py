"""The gateway's HTTP/1.1 at the wire: every byte to and from it parsed by h11.

The replicas here are scripted raw sockets, so a test can make one misbehave as a real server
may: interim 1xx answers before the answer, bytes after it, bytes on an idle connection, no
answer at all, a connect that never completes. Each test asserts what the client gets, and that
the next, unrelated request still gets its own answer.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h11
import orjson
import pytest

from modelplane.controlplane.gateway import Backend, Gateway, RevisionTarget, ServiceRoute
from tests.support.asgi import serving
from tests.support.h11_client import H11Client

HOST = "echo.default.example.com"
REVISION = "echo-1"


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Script = Callable[[Seen, int], Awaitable[bytes | list[bytes] | None]]


@dataclass
class RawReplica:
    """A replica on a raw socket: requests read by h11, answers written as the script says.

    The script gets each request and its number on the connection, and returns the exact bytes
    to write, or a list of pieces written apart, as separate reads for the gateway (None: write
    nothing and keep the connection open).
    """

    script: Script
    url: str = ""
    connections: int = 0
    seen: list[Seen] = field(default_factory=list)
    closed_by_peer: asyncio.Event = field(default_factory=asyncio.Event)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        conn = h11.Connection(h11.SERVER)
        number = 0
        try:
            while True:
                request = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(1 << 16)
                        if not data:
                            self.closed_by_peer.set()
                            return
                        conn.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert request is not None
                seen = Seen(
                    request.method.decode(),
                    request.target.decode(),
                    {k.decode(): v.decode() for k, v in request.headers},
                    body,
                )
                self.seen.append(seen)
                number += 1
                out = await self.script(seen, number)
                if out is None:
                    if not await reader.read(1):  # hold until the gateway hangs up
                        self.closed_by_peer.set()
                    return
                for i, piece in enumerate([out] if isinstance(out, bytes) else out):
                    if i:
                        await asyncio.sleep(0.02)  # apart: the gateway reads each on its own
                    writer.write(piece)
                    await writer.drain()
                # h11 tracks a server's own answers; these are raw, so start afresh each time.
                conn = h11.Connection(h11.SERVER)
        except (ConnectionError, h11.RemoteProtocolError):
            return
        finally:
            writer.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    return head + b"".join(extra) + b"content-length: %d\r\n\r\n" % len(body) + body


async def echo(seen: Seen, number: int) -> bytes:
    return ok(seen.body)


@asynccontextmanager
async def raw_replica(script: Script = echo) -> AsyncIterator[RawReplica]:
    replica = RawReplica(script)
    server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
    replica.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield replica
    finally:
        for writer in replica.writers:
            writer.close()
        server.close()


def route(*backends: Backend, failure: str | None = None, **kw: Any) -> ServiceRoute:
    target = RevisionTarget("default", REVISION, 100, backends, failure=failure)
    return ServiceRoute("default", "echo", (HOST,), (target,), **kw)


@asynccontextmanager
async def gateway(*backends: Backend, **kwargs: Any) -> AsyncIterator[tuple[Gateway, str]]:
    gw = Gateway(**kwargs)
    gw.set_routes([route(*backends)])
    try:
        async with serving(gw.http_app()) as url:
            yield gw, url
    finally:
        await gw.close()


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


async def post(url: str, body: bytes, **kw: Any) -> tuple[H11Client, Any]:
    client = await H11Client.open(url)
    return client, await client.request("POST", "/v1/models/echo:predict", body, host=HOST, **kw)


async def test_interim_answers_are_skipped_and_the_next_request_gets_its_own() -> None:
    async def interim_first(seen: Seen, number: int) -> list[bytes]:
        early = b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
        return [*early, ok(seen.body)]

    async with raw_replica(interim_first) as rep, gateway(Backend("r", rep.url)) as (_, url):
        client = await H11Client.open(url)
        for n in range(3):
            answer = await client.request("POST", "/x", b"request-%d" % n, host=HOST)
            assert (answer.status, answer.body, answer.interim) == (200, b"request-%d" % n, [])
        assert rep.connections == 1  # a 1xx never spoils a pooled connection
        await client.close()


@pytest.mark.parametrize("when", ["with the answer", "while idle"])
async def test_bytes_nobody_asked_for_close_the_connection(when: str) -> None:
    foreign = ok(b'"another client\'s answer"')

    async def overrun(seen: Seen, number: int) -> bytes:
        if number > 1 or when != "with the answer":
            return ok(seen.body)
        return ok(seen.body) + foreign

    async with raw_replica(overrun) as rep, gateway(Backend("r", rep.url)) as (gw, url):
        client = await H11Client.open(url)
        first = await client.request("POST", "/x", b"first", host=HOST)
        assert first.body == b"first"
        pool = gw.http_app().client.pool(rep.url)
        if when == "while idle":
            await eventually(lambda: len(pool.idle) == 1, "the connection pooled")
            rep.writers[0].write(foreign)
        await eventually(lambda: all(c.closed for c in pool.idle), "the spoiled connection closed")
        second = await client.request("POST", "/x", b"second", host=HOST)
        assert (second.status, second.body) == (200, b"second")
        assert rep.connections == 2
        await client.close()


async def test_expect_100_continue_is_met_at_the_gateway_and_not_forwarded() -> None:
    async with raw_replica() as rep, gateway(Backend("r", rep.url)) as (_, url):
        body = b"x" * (1 << 20 | 200_000)  # over curl's 1 MiB threshold for sending Expect
        client, answer = await post(url, body, expect=True)
        assert (answer.status, answer.interim, answer.body == body) == (200, [100], True)
        assert "expect" not in rep.seen[0].headers
        assert rep.seen[0].headers["content-length"] == str(len(body))
        small = await client.request("POST", "/x", b"small", host=HOST)
        assert small.body == b"small"
        await client.close()


async def test_an_unknown_expectation_is_417() -> None:
    async with raw_replica() as rep, gateway(Backend("r", rep.url)) as (_, url):
        client, answer = await post(url, b"", headers=[("expect", "the-unexpected")])
        assert answer.status == 417 and "the-unexpected" in orjson.loads(answer.body)["error"]
        assert rep.seen == []
        await client.close()


async def test_chunked_requests_reach_the_replica_with_a_length() -> None:
    async with raw_replica() as rep, gateway(Backend("r", rep.url)) as (_, url):
        body = random.Random(3).randbytes(300_000)
        client, answer = await post(url, body, chunked=True)
        assert answer.body == body
        assert rep.seen[0].headers["content-length"] == str(len(body))
        assert "transfer-encoding" not in rep.seen[0].headers
        await client.close()


@pytest.mark.parametrize(("chunked", "expect"), [(False, False), (False, True), (True, False)])
async def test_a_body_over_the_limit_is_413_and_the_connection_closes(
    chunked: bool, expect: bool
) -> None:
    async with (
        raw_replica() as rep,
        gateway(Backend("r", rep.url), max_request_size=1000) as (_, url),
    ):
        client = await H11Client.open(url)
        head = [("host", HOST)]
        head.append(("transfer-encoding", "chunked") if chunked else ("content-length", "5000"))
        if expect:
            head.append(("expect", "100-continue"))
        await client.send(h11.Request(method="POST", target="/x", headers=head))
        if not expect:
            await client.send(h11.Data(data=b"y" * 5000), h11.EndOfMessage())
        answer = await client.answer()
        assert answer.status == 413 and "1000 bytes" in orjson.loads(answer.body)["error"]
        assert answer.interim == []  # with Expect, the body was never asked for
        assert answer.headers["connection"] == "close"
        assert rep.seen == []
        await client.close()
        within, answer = await post(url, b"z" * 1000)
        assert (answer.status, answer.body) == (200, b"z" * 1000)
        await within.close()


async def test_hop_by_hop_headers_and_those_connection_names_stop_at_the_gateway() -> None:
    async def answer_with_hop_by_hop(seen: Seen, number: int) -> bytes:
        extra = (b"connection: x-internal\r\n", b"x-internal: 1\r\n", b"keep-alive: timeout=5\r\n")
        return ok(b"{}", *extra, b"x-kept: yes\r\n")

    async with (
        raw_replica(answer_with_hop_by_hop) as rep,
        gateway(Backend("r", rep.url)) as (_, url),
    ):
        headers = [
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "h2c"),
            ("x-end-to-end", "kept"),
        ]
        client, answer = await post(url, b"{}", headers=headers)
        got = rep.seen[0].headers
        for name in ("x-secret", "keep-alive", "te", "proxy-connection", "upgrade", "connection"):
            assert name not in got, name
        assert got["x-end-to-end"] == "kept" and got["host"] != HOST
        assert "x-internal" not in answer.headers and "keep-alive" not in answer.headers
        assert answer.headers["x-kept"] == "yes"
        assert answer.headers["x-modelplane-revision"] == REVISION
        await client.close()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async def slow_first(seen: Seen, number: int) -> bytes:
        if seen.body == b"0":
            await asyncio.sleep(0.05)  # the replica's own pace: later answers must still wait
        return ok(seen.body)

    async with raw_replica(slow_first) as rep, gateway(Backend("r", rep.url)) as (_, url):
        client = await H11Client.open(url)
        wire = b""
        for n in range(3):  # each request's bytes as h11 writes them, sent in one go
            other = h11.Connection(h11.CLIENT)
            head = [("host", HOST), ("content-length", "1")]
            wire += other.send(h11.Request(method="POST", target="/x", headers=head)) or b""
            wire += (other.send(h11.Data(data=b"%d" % n)) or b"") + (
                other.send(h11.EndOfMessage()) or b""
            )
        client.writer.write(wire)
        await client.writer.drain()
        bodies = []
        for n in range(3):
            if n:
                client.conn.start_next_cycle()
            head = [("host", HOST), ("content-length", "1")]
            client.conn.send(h11.Request(method="POST", target="/x", headers=head))
            client.conn.send(h11.Data(data=b"%d" % n))
            client.conn.send(h11.EndOfMessage())
            bodies.append((await client.answer()).body)
        assert bodies == [b"0", b"1", b"2"]
        await client.close()


async def test_content_length_with_chunked_is_refused_as_smuggling() -> None:
    async with raw_replica() as rep, gateway(Backend("r", rep.url)) as (_, url):
        reader, writer = await asyncio.open_connection(*url[len("http://") :].split(":"))
        writer.write(
            b"POST /x HTTP/1.1\r\nhost: " + HOST.encode() + b"\r\ncontent-length: 5\r\n"
            b"transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"
        )
        reply = await asyncio.wait_for(reader.read(), 10)
        assert reply.startswith(b"HTTP/1.1 400")
        assert rep.seen == []
        writer.close()


async def test_no_answer_within_the_read_timeout_is_504() -> None:
    async def never(seen: Seen, number: int) -> bytes | None:
        return None

    async with (
        raw_replica(never) as rep,
        gateway(Backend("r", rep.url), read_timeout=0.2) as (gw, url),
    ):
        client, answer = await post(url, b"{}")
        assert answer.status == 504 and "0.2s" in orjson.loads(answer.body)["error"]
        await asyncio.wait_for(rep.closed_by_peer.wait(), 10)  # the upstream connection closed
        assert gw.in_flight("r") == 0
        await client.close()


async def test_a_replica_that_never_accepts_is_left_after_the_connect_timeout() -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect hangs.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))
    async with raw_replica() as rep:
        stuck = Backend("stuck", f"http://127.0.0.1:{port}")
        async with gateway(stuck, Backend("live", rep.url), connect_timeout=0.2) as (gw, url):
            client = await H11Client.open(url)
            for n in range(4):  # the tie-break rotates: some try `stuck` first
                answer = await client.request("POST", "/x", b"%d" % n, host=HOST)
                assert (answer.status, answer.body) == (200, b"%d" % n)
            assert gw.in_flight("stuck") == 0
            await client.close()
    queued.close()
    full.close()


async def test_a_client_that_leaves_cancels_its_request_upstream() -> None:
    async def never(seen: Seen, number: int) -> bytes | None:
        return None

    async with raw_replica(never) as rep, gateway(Backend("r", rep.url)) as (gw, url):
        client = await H11Client.open(url)
        head = [("host", HOST), ("content-length", "2")]
        await client.send(h11.Request(method="POST", target="/x", headers=head))
        await client.send(h11.Data(data=b"{}"), h11.EndOfMessage())
        await eventually(lambda: len(rep.seen) == 1, "the request reached the replica")
        assert gw.load()[("default", REVISION)].in_flight == 1
        await client.close()
        await asyncio.wait_for(rep.closed_by_peer.wait(), 10)
        await eventually(lambda: gw.in_flight("r") == 0, "the replica's slot given back")
        await eventually(
            lambda: gw.load()[("default", REVISION)].in_flight == 0, "no longer counted as load"
        )


async def test_a_held_request_whose_client_left_is_dropped_and_not_counted() -> None:
    demanded = asyncio.Event()
    gw = Gateway(on_demand=lambda ns, rev: demanded.set(), activation_timeout=60)
    gw.set_routes([route()])  # scaled to zero: requests are held for a replica
    try:
        async with serving(gw.http_app()) as url:
            client = await H11Client.open(url)
            head = [("host", HOST), ("content-length", "2")]
            await client.send(h11.Request(method="POST", target="/x", headers=head))
            await client.send(h11.Data(data=b"{}"), h11.EndOfMessage())
            await asyncio.wait_for(demanded.wait(), 10)
            assert gw.load()[("default", REVISION)].in_flight == 1
            await client.close()
            await eventually(
                lambda: gw.load()[("default", REVISION)].in_flight == 0, "the held request dropped"
            )
    finally:
        await gw.close()


async def test_a_revision_whose_model_cannot_load_is_503_at_once_with_the_reason() -> None:
    demanded = asyncio.Event()
    gw = Gateway(on_demand=lambda ns, rev: demanded.set(), activation_timeout=60)
    gw.set_routes([route()])
    try:
        async with serving(gw.http_app()) as url:
            held = asyncio.create_task(post(url, b"{}"))
            await asyncio.wait_for(demanded.wait(), 10)
            reason = "model file not found: /models/iris/model.joblib (exit code 1)"
            gw.set_routes([route(failure=reason)])  # the reconciler saw the replica fail
            client, answer = await asyncio.wait_for(held, 10)
            assert answer.status == 503 and reason in orjson.loads(answer.body)["error"]
            started = asyncio.get_running_loop().time()
            fresh, answer = await post(url, b"{}")
            assert answer.status == 503 and reason in orjson.loads(answer.body)["error"]
            assert asyncio.get_running_loop().time() - started < 5  # not the activation timeout
            assert gw.load()[("default", REVISION)].in_flight == 0
            await client.close()
            await fresh.close()
    finally:
        await gw.close()
