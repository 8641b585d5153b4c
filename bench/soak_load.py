"""The soak's mixed load: closed-loop clients that each pick their next exchange by weight and
check every answer, counting whatever is not the right answer as an error by kind.

Through the gateway: V1 and V2 REST predicts over keep-alive httpx connections, gRPC
ModelInfer, raw-socket requests whose every byte goes through h11 (small and >1 MiB bodies with
`Expect: 100-continue` as curl sends them, chunked bodies, fresh connections, clients that hang
up mid-body or while their request is at the replica), and bad requests that must be 4xx. Iris
answers are compared with the joblib model's own predictions of the rows sent; the echo model
answers `{"id", "bytes"}`, so a client handed someone else's answer is seen.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import h11
import httpx
import numpy as np

from bench import checks, payloads
from tests.support.h11_client import H11Client

IRIS, ECHO = payloads.IRIS_MODEL, "echo"
ECHO_HOST, IRIS_HOST = f"{ECHO}.default.example.com", f"{IRIS}.default.example.com"
ECHO_PATH = f"/v1/models/{ECHO}:predict"
IRIS_V1, IRIS_V2 = f"/v1/models/{IRIS}:predict", f"/v2/models/{IRIS}/infer"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
OP_TIMEOUT = 60.0  # no single exchange may take longer; the gateway's own timeouts are longer
BIG = 1_200_000  # over 1 MiB: curl sends `Expect: 100-continue` for such a body
# A raw connection idle this long is not reused: a server closing idle connections (uvicorn's
# default is 5 s; the gateway's 75 s) would race the next request, which no client survives.
IDLE_REUSE = 4.0

# name -> weight. Each client picks its next operation by these weights.
OPS = {
    "v1": 20, "v2": 15, "grpc": 15, "v2-metadata": 3,
    "echo": 15, "echo-fresh-conn": 5, "echo-1mib-expect": 3, "echo-chunked": 5,
    "v2-chunked": 3, "v1-1mib-expect": 1,
    "leave-mid-body": 2, "leave-waiting": 2,
    "bad-json-400": 3, "unknown-model-404": 3, "grpc-unknown-not-found": 2,
}  # fmt: skip


@dataclass
class Tally:
    """Requests and errors by kind; a few examples of each error for the report."""

    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        seen = self.examples.setdefault(kind, [])
        if len(seen) < 3:
            seen.append(what[:300])


class Iris:
    """The 150 iris rows, the model's own prediction of each, and bodies of any subset."""

    def __init__(self, model_file: Path) -> None:
        import joblib

        self.rows = payloads.iris_rows(150)
        self.labels = np.asarray(joblib.load(model_file).predict(self.rows), dtype=np.int64)

    def pick(self, rng: random.Random, count: int) -> tuple[np.ndarray[Any, Any], list[int]]:
        index = (rng.randrange(150) + np.arange(count)) % 150
        return self.rows[index], self.labels[index].tolist()


def v1_body(rows: np.ndarray[Any, Any]) -> bytes:
    return json.dumps({"instances": rows.tolist()}, separators=(",", ":")).encode()


def v2_body(rows: np.ndarray[Any, Any]) -> bytes:
    doc = {"inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64",
                       "data": rows.reshape(-1).tolist()}]}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def echo_body(ident: str, size: int, delay: float = 0.0) -> bytes:
    return b'{"id":"%s","pad":"%s","delay":%g}' % (ident.encode(), b"p" * size, delay)


def kind_of(problem: str) -> str:
    """What went wrong, without the particulars: `HTTP 503`, `wrong answer`, `ReadTimeout`."""
    if problem.startswith("expected "):  # checks.py: the predictions differ
        return "wrong answer"
    return problem.split(":")[0][:40]


class Client:
    """One closed-loop client: its own keep-alive httpx client, raw connection and gRPC channel,
    each replaced now and then so that new connections keep arriving too."""

    def __init__(self, index: int, url: str, grpc_target: str, iris: Iris, tally: Tally) -> None:
        self.index, self.url, self.grpc_target = index, url, grpc_target
        self.iris, self.tally = iris, tally
        self.rng = random.Random(index)
        self.http = httpx.AsyncClient(base_url=url, timeout=OP_TIMEOUT)
        self.raw: H11Client | None = None
        self.raw_used = 0.0
        self.channel = grpc.aio.insecure_channel(grpc_target)
        self.count = 0

    async def close(self) -> None:
        await self.http.aclose()
        await self.channel.close()
        await self._hang_up()

    async def _hang_up(self) -> None:
        if self.raw is not None:
            raw, self.raw = self.raw, None
            await raw.close()

    async def run(self, deadline: float) -> None:
        names, weights = list(OPS), list(OPS.values())
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            op = self.rng.choices(names, weights)[0]
            self.count += 1
            try:
                async with asyncio.timeout(OP_TIMEOUT):
                    problem = await getattr(self, "op_" + op.replace("-", "_"))()
            except TimeoutError:
                problem = f"no answer in {OP_TIMEOUT:g} s"
            except Exception as exc:  # every failure is counted, none ends the run
                problem = f"{type(exc).__name__}: {exc}"
            self.tally.done[op] += 1
            if problem:
                self.tally.error(f"{op}: {kind_of(problem)}", problem)
                await self._hang_up()
            if self.rng.random() < 0.01:  # a new httpx connection and gRPC channel
                await self.http.aclose()
                await self.channel.close()
                self.http = httpx.AsyncClient(base_url=self.url, timeout=OP_TIMEOUT)
                self.channel = grpc.aio.insecure_channel(self.grpc_target)

    # -- httpx, keep-alive ------------------------------------------------------------------

    async def op_v1(self) -> str | None:
        rows, expect = self.iris.pick(self.rng, self.rng.randint(1, 16))
        answer = await self.http.post(IRIS_V1, content=v1_body(rows))
        return checks.rest("v1", answer.status_code, answer.content, expect)

    async def op_v2(self) -> str | None:
        rows, expect = self.iris.pick(self.rng, self.rng.randint(1, 16))
        answer = await self.http.post(IRIS_V2, content=v2_body(rows))
        return checks.rest("v2", answer.status_code, answer.content, expect)

    async def op_v2_metadata(self) -> str | None:
        answer = await self.http.get(f"/v2/models/{IRIS}")
        if answer.status_code != 200 or answer.json().get("name") != IRIS:
            return f"HTTP {answer.status_code}: {answer.content[:200]!r}"
        return None

    async def op_bad_json_400(self) -> str | None:
        answer = await self.http.post(IRIS_V1, content=b'{"instances": [[5.1, 3.5,')
        return None if answer.status_code == 400 else f"HTTP {answer.status_code}: not 400"

    async def op_unknown_model_404(self) -> str | None:
        answer = await self.http.post("/v1/models/no-such-model:predict", json={"instances": []})
        return None if answer.status_code == 404 else f"HTTP {answer.status_code}: not 404"

    # -- gRPC -------------------------------------------------------------------------------

    async def op_grpc(self) -> str | None:
        rows, expect = self.iris.pick(self.rng, self.rng.randint(1, 16))
        message = payloads.grpc_message(IRIS, rows, "FP64", raw=False)
        response = await self.channel.unary_unary(MODEL_INFER)(message, timeout=OP_TIMEOUT)
        return checks.grpc(response, expect)

    async def op_grpc_unknown_not_found(self) -> str | None:
        message = payloads.grpc_message("no-such-model", self.iris.rows[:1], "FP64", raw=False)
        try:
            await self.channel.unary_unary(MODEL_INFER)(message, timeout=OP_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            return None if exc.code() == grpc.StatusCode.NOT_FOUND else f"gRPC {exc.code()}"
        return "answered an unknown model"

    # -- raw sockets, every byte through h11 ------------------------------------------------

    async def _raw(self, path: str, body: bytes, host: str, **how: Any) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.raw is not None and loop.time() - self.raw_used > IDLE_REUSE:
            await self._hang_up()
        if self.raw is None:
            self.raw = await H11Client.open(self.url)
        answer = await self.raw.request("POST", path, body, host=host, timeout=OP_TIMEOUT, **how)
        self.raw_used = loop.time()
        conn = self.raw.conn
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            await self._hang_up()  # the server closes this one (Connection: close)
        return answer.status, answer.body

    async def _echo(self, size: int, fresh: bool = False, **how: Any) -> str | None:
        ident = f"c{self.index}-{self.count}"
        status, body = await self._raw(ECHO_PATH, echo_body(ident, size), ECHO_HOST, **how)
        if fresh:
            await self._hang_up()
        if status != 200:
            return f"HTTP {status}: {body[:200]!r}"
        got = json.loads(body)
        return None if got == {"id": ident, "bytes": size} else f"wrong answer: {got!r:.200}"

    async def op_echo(self) -> str | None:
        return await self._echo(self.rng.choice([0, 100, 5_000]))

    async def op_echo_fresh_conn(self) -> str | None:
        await self._hang_up()
        return await self._echo(self.rng.choice([0, 100, 5_000]), fresh=True)

    async def op_echo_1mib_expect(self) -> str | None:
        return await self._echo(BIG + self.rng.randrange(1000), expect=True)

    async def op_echo_chunked(self) -> str | None:
        return await self._echo(self.rng.choice([20_000, 300_000, BIG]), chunked=True)

    async def op_v2_chunked(self) -> str | None:
        rows, expect = self.iris.pick(self.rng, self.rng.randint(1, 64))
        status, body = await self._raw(IRIS_V2, v2_body(rows), IRIS_HOST, chunked=True)
        return checks.rest("v2", status, body, expect)

    async def op_v1_1mib_expect(self) -> str | None:
        rows, expect = self.iris.pick(self.rng, 64_000)  # ~1.15 MB of JSON
        status, body = await self._raw(IRIS_V1, v1_body(rows), IRIS_HOST, expect=True)
        return checks.rest("v1", status, body, expect)

    async def _leave(self, body: bytes, whole: bool) -> None:
        """Send a request and hang up: after half its body, or once it is at the replica."""
        await self._hang_up()
        raw = await H11Client.open(self.url)
        head = [("host", ECHO_HOST), ("content-length", str(len(body)))]
        try:
            await raw.send(h11.Request(method="POST", target=ECHO_PATH, headers=head))
            await raw.send(h11.Data(data=body if whole else body[: len(body) // 2]))
            if whole:
                await raw.send(h11.EndOfMessage())
                await asyncio.sleep(self.rng.uniform(0.0, 0.2))  # the replica holds it 0.3 s
        finally:
            await raw.close()

    async def op_leave_mid_body(self) -> None:
        await self._leave(echo_body("gone", self.rng.choice([20_000, BIG])), whole=False)

    async def op_leave_waiting(self) -> None:
        await self._leave(echo_body("gone", 100, delay=0.3), whole=True)


async def drive(url: str, grpc_target: str, iris: Iris, tally: Tally, clients: int,
                seconds: float, on_tick: Callable[[], None], interval: float) -> None:  # fmt: skip
    """`clients` clients for `seconds`; `on_tick()` every `interval` s. All connections closed
    on return."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    workers = [Client(i, url, grpc_target, iris, tally) for i in range(clients)]
    tasks = [asyncio.create_task(w.run(deadline)) for w in workers]
    try:
        next_tick = loop.time() + interval
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=max(0.0, next_tick - loop.time()))
            if loop.time() >= next_tick and loop.time() < deadline:
                on_tick()
                next_tick += interval
        for task in tasks:
            task.result()  # a bug in the soak itself surfaces here
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
