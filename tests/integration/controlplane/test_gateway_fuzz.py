"""Every client gets its own answer: the gateway in front of a real `modelplane serve` replica.

The replica serves `tests/support/echo_model.py`, which answers each request with its id and
size, so any answer handed to the wrong client is seen. The probe is the bug users met: curl's
defaults send `Expect: 100-continue` for a body over 1 MiB, and the answer must not be left on
a pooled connection for the next request. The fuzz drives random sequences of requests (sizes,
`Expect`, chunked bodies, keep-alive and fresh connections, clients that leave mid-body or
while waiting) from concurrent clients whose every byte h11 parses; the seed is in the name.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import h11
import orjson
import pytest

from modelplane.controlplane.gateway import Backend, Gateway, RevisionTarget, ServiceRoute
from tests.support.asgi import serving
from tests.support.h11_client import H11Client
from tests.support.process import ServeProcess

MODEL = "echo"
HOST = f"{MODEL}.default.example.com"
REVISION = "echo-predictor-00001"
PATH = f"/v1/models/{MODEL}:predict"


@pytest.fixture(scope="module")
def replica() -> Iterator[ServeProcess]:
    args = ["--model-name", MODEL, "--model-class", "tests.support.echo_model:EchoModel"]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "-1") as server:
        server.wait_ready()
        yield server


@asynccontextmanager
async def gateway(replica: ServeProcess) -> AsyncIterator[tuple[Gateway, str]]:
    gw = Gateway()
    target = RevisionTarget("default", REVISION, 100, (Backend("replica-1", replica.url),))
    gw.set_routes([ServiceRoute("default", MODEL, (HOST,), (target,))])
    try:
        async with serving(gw.http_app()) as url:
            yield gw, url
    finally:
        await gw.close()


def request_body(ident: str, size: int, delay: float = 0.0) -> bytes:
    return orjson.dumps({"id": ident, "pad": "p" * size, "delay": delay})


async def drained(gw: Gateway) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while gw.in_flight("replica-1") or gw.load()[("default", REVISION)].in_flight:
        assert asyncio.get_running_loop().time() < deadline, "requests still counted in flight"
        await asyncio.sleep(0.01)


async def curl(url: str, body_file: Path) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-H", f"Host: {HOST}", "-H", "Content-Type: application/json",
        f"{url}{PATH}", "--data-binary", f"@{body_file}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return orjson.loads(out)  # type: ignore[no-any-return]


async def test_curl_over_1_mib_then_a_small_request_each_get_their_own_answer(
    replica: ServeProcess, tmp_path: Path
) -> None:
    async with gateway(replica) as (gw, url):
        big, small = tmp_path / "big.json", tmp_path / "small.json"
        big.write_bytes(request_body("big", 1_200_000))  # curl sends Expect: 100-continue
        small.write_bytes(request_body("small", 10))
        for _ in range(3):
            assert await curl(url, big) == {"id": "big", "bytes": 1_200_000}
            assert await curl(url, small) == {"id": "small", "bytes": 10}
        await drained(gw)


SIZES = [0, 100, 20_000, 300_000, 1_200_000]
CLIENTS, OPS = 8, 25


async def fuzz_client(index: int, rng: random.Random, url: str) -> list[str]:
    """One client's random sequence; returns the ids it got answers for."""
    answered: list[str] = []
    client: H11Client | None = None
    for op in range(OPS):
        if client is None:
            client = await H11Client.open(url)
        ident = f"client-{index}-op-{op}"
        size = rng.choice(SIZES)
        expect = size >= 20_000 and rng.random() < 0.5
        chunked = rng.random() < 0.3
        leave = rng.choices(["never", "mid-body", "while waiting"], [8, 1, 1])[0]
        body = request_body(ident, size, 0.3 if leave == "while waiting" else 0.0)
        if leave == "never":
            answer = await client.request(
                "POST", PATH, body, host=HOST, expect=expect, chunked=chunked
            )
            assert answer.status == 200, (ident, answer)
            assert orjson.loads(answer.body) == {"id": ident, "bytes": size}
            answered.append(ident)
            if rng.random() < 0.15:  # sometimes a fresh connection
                await client.close()
                client = None
            continue
        head = [("host", HOST)]
        length = ("content-length", str(len(body)))
        head.append(("transfer-encoding", "chunked") if chunked else length)
        if expect:
            head.append(("expect", "100-continue"))
        if client.conn.our_state is h11.DONE:
            client.conn.start_next_cycle()
        await client.send(h11.Request(method="POST", target=PATH, headers=head))
        if expect:
            assert isinstance(await client.next_event(), h11.InformationalResponse)
        sent = body[: len(body) // 2] if leave == "mid-body" else body
        await client.send(h11.Data(data=sent))
        if leave == "while waiting":
            await client.send(h11.EndOfMessage())
        await client.close()
        client = None
    if client is not None:
        await client.close()
    return answered


@pytest.mark.parametrize("seed", [1, 2])
async def test_fuzz_every_client_gets_its_own_answer(replica: ServeProcess, seed: int) -> None:
    rng = random.Random(seed)
    async with gateway(replica) as (gw, url):
        rngs = [random.Random(rng.random()) for _ in range(CLIENTS)]
        results = await asyncio.gather(*(fuzz_client(i, r, url) for i, r in enumerate(rngs)))
        assert sum(len(r) for r in results) >= CLIENTS * OPS // 2  # most requests completed
        await drained(gw)  # the clients that left are no longer counted anywhere
        client = await H11Client.open(url)
        after = await client.request("POST", PATH, request_body("after", 5), host=HOST)
        assert orjson.loads(after.body) == {"id": "after", "bytes": 5}
        await client.close()
