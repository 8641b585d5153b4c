"""The HTTP data path end to end: real uvicorn servers on port 0 for the gateway and replicas.

Replicas are tiny ASGI apps in the test's own event loop, so a test can hold a request inside a
replica (an `asyncio.Event`) and observe the gateway while it waits, never sleeping a guessed
time. Each replica answers with its name, so routing and balancing are seen from the outside.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from modelplane.controlplane.gateway import (
    Backend,
    Gateway,
    LoggerSpec,
    RevisionTarget,
    ServiceRoute,
)
from tests.support.asgi import serving

DOMAIN = "example.com"


class Replica:
    """A model server stand-in: /hold waits on `gate`, /stream sends what `chunks` is fed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = asyncio.Event()
        self.entered: asyncio.Queue[str] = asyncio.Queue()
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.logged: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if path == "/log":
            await self.logged.put((headers, body))
        if path.startswith("/hold"):
            await self.entered.put(path)
            await self.gate.wait()
        if path == "/stream":
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-type", b"text/event-stream")]})
            while (chunk := await self.chunks.get()) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/echo":
            out = [(b"content-type", headers.get("content-type", "").encode())]
            if "content-encoding" in headers:
                out.append((b"content-encoding", headers["content-encoding"].encode()))
            out.append((b"x-seen-accept-encoding", headers.get("accept-encoding", "-").encode()))
            await send({"type": "http.response.start", "status": 200, "headers": out})
            await send({"type": "http.response.body", "body": body})
            return
        answer = orjson.dumps(
            {"replica": self.name, "path": path, "query": scope["query_string"].decode()}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def backend(self) -> Backend:
        return Backend(self.name, self.url, None)


@asynccontextmanager
async def replicas(*names: str) -> AsyncIterator[dict[str, Replica]]:
    made = {name: Replica(name) for name in names}
    async with contextlib_stack(made) as out:
        yield out


@asynccontextmanager
async def contextlib_stack(made: dict[str, Replica]) -> AsyncIterator[dict[str, Replica]]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        for replica in made.values():
            replica.url = await stack.enter_async_context(serving(replica, lifespan="on"))
        try:
            yield made
        finally:  # let held requests end, or uvicorn's shutdown would wait for them
            for replica in made.values():
                replica.gate.set()
                replica.chunks.put_nowait(None)


@asynccontextmanager
async def gateway(**kwargs: Any) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    gw = Gateway(rng=random.Random(42), **kwargs)
    async with (
        serving(gw.http_app(), lifespan="on") as url,
        httpx.AsyncClient(
            base_url=url, timeout=30, headers={"host": f"iris.default.{DOMAIN}"}
        ) as client,
    ):
        try:
            yield gw, client
        finally:
            await gw.close()


def route(name: str, *targets: RevisionTarget, ns: str = "default", **kw: Any) -> ServiceRoute:
    return ServiceRoute(ns, name, (f"{name}.{ns}.{DOMAIN}",), targets, **kw)


def revision(
    rev: str, percent: int, *reps: Replica, cc: int = 0, ns: str = "default"
) -> RevisionTarget:
    return RevisionTarget(ns, rev, percent, tuple(r.backend() for r in reps), cc)


async def test_routes_by_host_then_by_path_and_404_names_what_was_tried() -> None:
    async with replicas("a", "b") as r, gateway() as (gw, client):
        gw.set_routes(
            [
                route("iris", revision("iris-1", 100, r["a"])),
                route("iris", revision("iris-team-1", 100, r["b"]), ns="team"),
            ]
        )
        by_host = await client.post(
            "/v1/models/iris:predict?x=1", headers={"host": "iris.team.example.com:8080"}
        )
        assert by_host.json() == {"replica": "b", "path": "/v1/models/iris:predict", "query": "x=1"}
        assert by_host.headers["x-modelplane-revision"] == "iris-team-1"
        by_path = await client.post("/v2/models/iris/infer", headers={"host": "localhost"})
        assert by_path.json()["replica"] == "a"
        unknown = await client.post("/v2/models/nope/infer", headers={"host": "localhost"})
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_canary_split_holds_over_a_thousand_requests() -> None:
    async with replicas("old", "new") as r, gateway() as (gw, client):
        gw.set_routes(
            [route("iris", revision("iris-1", 90, r["old"]), revision("iris-2", 10, r["new"]))]
        )
        seen = Counter()
        for _ in range(1000):
            seen[
                (await client.post("/v1/models/iris:predict")).headers["x-modelplane-revision"]
            ] += 1
        assert abs(seen["iris-2"] / 1000 - 0.10) <= 0.03, seen
        load = gw.load()
        assert load[("default", "iris-1")].requests + load[("default", "iris-2")].requests == 1000


async def test_least_in_flight_spreads_slow_requests() -> None:
    async with replicas("a", "b", "c") as r, gateway() as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, *r.values()))])
        calls = [asyncio.create_task(client.post("/hold")) for _ in range(6)]
        for replica in r.values():
            for _ in range(2):
                await asyncio.wait_for(replica.entered.get(), 10)
        assert [gw.in_flight(n) for n in "abc"] == [2, 2, 2]
        assert gw.load()[("default", "iris-1")].in_flight == 6
        for replica in r.values():
            replica.gate.set()
        assert {(await c).json()["replica"] for c in calls} == {"a", "b", "c"}


async def test_container_concurrency_queues_then_a_full_queue_is_503() -> None:
    async with replicas("a") as r, gateway(queue_per_replica=1) as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"], cc=1))])
        first = asyncio.create_task(client.post("/hold/1"))
        assert await asyncio.wait_for(r["a"].entered.get(), 10) == "/hold/1"
        second = asyncio.create_task(client.post("/hold/2"))
        while gw.load()[("default", "iris-1")].in_flight < 2:  # the second is queued
            await asyncio.sleep(0.005)
        assert r["a"].entered.empty() and gw.in_flight("a") == 1
        third = await client.post("/hold/3")
        assert third.status_code == 503 and "queue" in third.json()["error"]
        r["a"].gate.set()
        assert (await first).status_code == 200 and (await second).status_code == 200
        assert await r["a"].entered.get() == "/hold/2"


async def test_timeout_gives_504() -> None:
    async with replicas("a") as r, gateway() as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]), timeout=0.2)])
        answer = await client.post("/hold")
        assert answer.status_code == 504 and "timeout" in answer.json()["error"]
        assert gw.in_flight("a") == 0


async def test_activator_holds_until_a_replica_is_routed() -> None:
    demanded = asyncio.Event()
    async with (
        replicas("a") as r,
        gateway(on_demand=lambda ns, rev: demanded.set()) as (gw, client),
    ):
        gw.set_routes([route("iris", revision("iris-1", 100))])

        async def scale_from_zero() -> None:
            await demanded.wait()
            gw.set_routes([route("iris", revision("iris-1", 100, r["a"]))])

        scaler = asyncio.create_task(scale_from_zero())
        answer = await client.post("/v1/models/iris:predict")
        await scaler
        assert answer.status_code == 200 and answer.json()["replica"] == "a"


async def test_activation_timeout_is_503() -> None:
    async with gateway(activation_timeout=0.2) as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100))])
        answer = await client.post("/v1/models/iris:predict")
        assert answer.status_code == 503 and "no replica" in answer.json()["error"]


async def test_connection_refused_retries_another_replica() -> None:
    async with replicas("live") as r, gateway() as (gw, client):
        dead = Backend("dead", "http://127.0.0.1:9", None)  # the discard port: nothing listens
        target = RevisionTarget("default", "iris-1", 100, (dead, r["live"].backend()))
        gw.set_routes([route("iris", target)])
        answers = [await client.post("/v1/models/iris:predict") for _ in range(10)]
        assert all(a.status_code == 200 and a.json()["replica"] == "live" for a in answers)
        assert gw.in_flight("dead") == 0


async def test_a_replica_dying_on_a_request_is_502_and_the_request_is_not_replayed() -> None:
    taken: list[bytes] = []

    async def crash_on_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken.append(await reader.readuntil(b"\r\n\r\n"))  # the whole head, then no answer
        writer.close()

    server = await asyncio.start_server(crash_on_request, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with replicas("healthy") as r, gateway() as (gw, client):
        dying = Backend("dying", f"http://127.0.0.1:{port}", None)
        gw.set_routes([route("iris", RevisionTarget("default", "iris-1", 100, (dying,)))])
        answer = await client.post("/v1/models/iris:predict", content=b"{}")
        assert answer.status_code == 502
        assert "closed the connection without answering" in answer.json()["error"]
        assert len(taken) == 1  # sent once, not replayed
        # The gateway keeps serving: the next request goes to a healthy replica.
        gw.set_routes([route("iris", revision("iris-1", 100, r["healthy"]))])
        assert (await client.post("/v1/models/iris:predict")).json()["replica"] == "healthy"
    server.close()
    await server.wait_closed()


async def test_streaming_passes_chunk_by_chunk() -> None:
    async with replicas("a") as r, gateway() as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]))])
        async with client.stream("POST", "/stream") as answer:
            assert answer.headers["content-type"] == "text/event-stream"
            chunks = answer.aiter_raw()
            for i in range(3):
                event = f"data: {i}\n\n".encode()
                await r["a"].chunks.put(event)  # the next is produced only after this arrives
                assert await asyncio.wait_for(anext(chunks), 10) == event
            await r["a"].chunks.put(None)


@pytest.mark.parametrize(
    ("content_type", "encoding", "body"),
    [
        ("application/octet-stream", None, bytes(range(256)) * 64),
        ("application/json", "gzip", gzip.compress(b'{"instances": [[1, 2, 3, 4]]}')),
    ],
)
async def test_bodies_pass_untouched(content_type: str, encoding: str | None, body: bytes) -> None:
    async with replicas("a") as r, gateway() as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]))])
        headers = {"content-type": content_type}
        if encoding:
            headers["content-encoding"] = encoding
        request = client.build_request("POST", "/echo", content=body, headers=headers)
        answer = await client.send(request, stream=True)
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
        await answer.aclose()
        assert raw == body  # the bytes the replica got, echoed, compared undecoded
        assert answer.headers.get("content-encoding") == encoding
        assert answer.headers["content-type"] == content_type


async def test_request_logger_posts_cloudevents_without_delaying_the_answer() -> None:
    async with replicas("a", "sink") as r, gateway() as (gw, client):
        spec = LoggerSpec(f"{r['sink'].url}/log", "all")
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]), logger=spec)])
        answer = await client.post(
            "/v1/models/iris:predict",
            content=b'{"instances": [[1]]}',
            headers={"x-request-id": "req-7"},
        )
        assert answer.status_code == 200
        events = [await asyncio.wait_for(r["sink"].logged.get(), 10) for _ in range(2)]
        by_type = {headers["ce-type"]: (headers, body) for headers, body in events}
        request_headers, request_body = by_type["org.kubeflow.serving.inference.request"]
        assert request_body == b'{"instances": [[1]]}'
        assert request_headers["ce-id"] == "req-7" and request_headers["ce-specversion"] == "1.0"
        assert request_headers["ce-inferenceservicename"] == "iris"
        assert request_headers["ce-namespace"] == "default"
        _, response_body = by_type["org.kubeflow.serving.inference.response"]
        assert response_body == answer.content


async def test_keep_alive_connections_are_reused_and_survive_a_replica_closing_them() -> None:
    async with replicas("a") as r, gateway() as (gw, client):
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]))])
        assert (await client.post("/v1/models/iris:predict")).status_code == 200
        pool = gw.http_app().client.pool(r["a"].url)
        assert len(pool.idle) == 1
        first = pool.idle[0]
        assert (await client.post("/v1/models/iris:predict")).status_code == 200
        assert pool.idle == [first]  # the same connection again
        first.abort()  # as a replica's keep-alive timeout would
        assert (await client.post("/v1/models/iris:predict")).status_code == 200
        assert gw.in_flight("a") == 0
