"""Batching: which payloads may merge, how they merge and split back, and when batches leave.

The queue tests drive a fake model that records each call's rows and holds every call until its
gate opens, so "the model is busy" is a fact of the test, not a guess about timing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from modelplane.core.inference import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    RequestedOutput,
)
from modelplane.observability.metrics import ServerMetrics
from modelplane.server import batching
from modelplane.server.batching import Batcher, merge, signature, split


def v2(rows: int, width: int = 4, rid: str = "r", **parameters: object) -> InferRequest:
    data = np.arange(rows * width, dtype=np.float64).reshape(rows, width)
    return InferRequest("m", [InferInput("x", data.shape, "FP64", data)], rid, dict(parameters))


def test_same_signature_for_same_row_shape_whatever_the_row_count() -> None:
    assert signature(v2(1))[0] == signature(v2(5))[0]
    assert signature(v2(5))[1] == 5
    assert signature(v2(1))[0] != signature(v2(1, width=3))[0]
    assert signature(v2(1))[0] != signature(v2(1, predict_proba=True))[0]
    wanted = v2(1)
    wanted.request_outputs = [RequestedOutput("predict_proba")]
    assert signature(wanted)[0] != signature(v2(1))[0]


def test_unbatchable_payloads() -> None:
    scalar = InferRequest("m", [InferInput("x", [], "FP64", np.float64(1.0))])
    assert signature(scalar) == (None, 0)
    uneven = InferRequest(
        "m", [InferInput("a", [2], "FP64", [1.0, 2.0]), InferInput("b", [3], "FP64", [1.0] * 3)]
    )
    assert signature(uneven) == (None, 0)
    assert signature({"inputs": [1]}) == (None, 0)
    assert signature({"instances": []}) == (None, 0)


def test_v1_merge_and_split() -> None:
    payloads = [{"instances": [[1], [2]]}, {"instances": [[3]]}]
    assert signature(payloads[0])[0] == signature(payloads[1])[0]
    merged = merge(payloads)
    assert merged == {"instances": [[1], [2], [3]]}
    answers = split({"predictions": [10, 20, 30]}, payloads, [2, 1])
    assert answers == [{"predictions": [10, 20]}, {"predictions": [30]}]
    assert split({"predictions": [10, 20]}, payloads, [2, 1]) is None
    assert split({"other": 1}, payloads, [2, 1]) is None


def test_v2_merge_and_split_keep_each_request_id() -> None:
    payloads = [v2(2, rid="a"), v2(1, rid="b")]
    merged = merge(payloads)
    assert merged.inputs[0].shape == [3, 4]
    sums = merged.inputs[0].as_numpy().sum(axis=1)
    result = InferResponse(None, "m", [InferOutput("s", sums.shape, "FP64", sums)])
    answers = split(result, payloads, [2, 1])
    assert answers is not None
    assert [a.id for a in answers] == ["a", "b"]
    assert answers[0].outputs[0].as_numpy().tolist() == [6.0, 22.0]
    assert answers[1].outputs[0].as_numpy().tolist() == [6.0]
    summary = InferResponse(None, "m", [InferOutput("s", [1], "FP64", np.ones(1))])
    assert split(summary, payloads, [2, 1]) is None  # not one row per input row: run alone


class GatedModel:
    """V1 rows in, each row's first value out; every call waits for `gate`. Negative values fail."""

    def __init__(self) -> None:
        self.calls: list[int] = []  # rows per call, in call order
        self.running = 0
        self.gate = asyncio.Event()
        self.called = asyncio.Event()

    async def __call__(self, payload: Any, headers: Any) -> Any:
        rows = payload["instances"]
        self.calls.append(len(rows))
        self.called.set()
        self.running += 1
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        if any(row[0] < 0 for row in rows):
            raise ValueError("negative values are refused")
        return {"predictions": [row[0] for row in rows]}


def body(*values: float, **parameters: object) -> dict[str, Any]:
    payload: dict[str, Any] = {"instances": [[v] for v in values]}
    if parameters:
        payload["parameters"] = parameters
    return payload


async def turns(n: int = 5) -> None:
    """Let the event loop run `n` turns: no timer fires, only what is ready runs."""
    for _ in range(n):
        await asyncio.sleep(0)


async def busy(batcher: Batcher, model: GatedModel) -> asyncio.Task[Any]:
    """A first request, now holding the (idle until then) model."""
    first = asyncio.create_task(batcher.submit(body(0), None))
    await turns()
    assert model.calls == [1] and model.running == 1
    return first


async def test_a_lone_request_goes_to_an_idle_model_at_once() -> None:
    model = GatedModel()
    model.gate.set()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())  # a 10 s timer would be noticed
    request = asyncio.create_task(batcher.submit(body(7), None))
    await turns()  # loop turns, not time: the model was called before any timer could fire
    assert model.calls == [1]
    assert await asyncio.wait_for(request, 1.0) == {"predictions": [7]}
    for value in range(3):  # and so is each next one, once the model is idle again
        assert await asyncio.wait_for(batcher.submit(body(value), None), 1.0) == {
            "predictions": [value]
        }
    assert model.calls == [1, 1, 1, 1]
    assert batcher.queued == 0
    await batcher.close()


async def test_requests_that_arrive_while_the_model_is_busy_form_the_next_batch() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    waiting = [asyncio.create_task(batcher.submit(body(v, v), None)) for v in (1, 2, 3)]
    await turns()
    assert model.calls == [1] and batcher.queued == 3  # queued behind the batch in flight
    model.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *waiting), 1.0)
    # taken whole as soon as the model was free, though 3 < 8 and max_latency is 10 s
    assert model.calls == [1, 6]
    assert answers == [{"predictions": [0]}] + [{"predictions": [v, v]} for v in (1, 2, 3)]
    await batcher.close()


async def test_a_batch_never_exceeds_max_batch_size_and_keeps_arrival_order() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 4, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    sizes = [1, 1, 3, 2, 2, 1, 1, 1, 1, 1]
    waiting = [
        asyncio.create_task(batcher.submit(body(*[i] * rows), None))
        for i, rows in enumerate(sizes, start=1)
    ]
    await turns()
    model.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(*waiting), 1.0)
    await first
    # [1, 1] + 3 > 4, so the 3-row request opens the next batch; nothing skips ahead of it
    assert model.calls == [1, 2, 3, 4, 4, 1]
    assert max(model.calls) <= 4
    assert answers == [{"predictions": [i] * rows} for i, rows in enumerate(sizes, start=1)]
    await batcher.close()


async def test_a_bad_request_in_a_batch_fails_alone() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    waiting = [asyncio.create_task(batcher.submit(body(v), None)) for v in (1, -1, 2)]
    await turns()
    model.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 1.0)
    await first
    assert model.calls == [1, 3, 1, 1, 1]  # the merged call failed, so each ran alone
    assert results[0] == {"predictions": [1]} and results[2] == {"predictions": [2]}
    assert isinstance(results[1], ValueError)
    await batcher.close()


async def test_signatures_queue_apart_and_the_oldest_goes_first() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    a1 = asyncio.create_task(batcher.submit(body(1, mode="a"), None))
    await turns(1)
    b = asyncio.create_task(batcher.submit(body(2, 2, mode="b"), None))
    await turns(1)
    a2 = asyncio.create_task(batcher.submit(body(3, mode="a"), None))
    await turns()
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, a1, b, a2), 1.0)
    assert model.calls == [1, 2, 2]  # a1 + a2, then b: shapes and parameters never meet
    assert a1.result() == {"predictions": [1]} and a2.result() == {"predictions": [3]}
    assert batcher.queued == 0 and not batcher._queues  # emptied lines are dropped at once
    await batcher.close()


async def test_a_caller_that_went_away_is_not_batched() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    gone = asyncio.create_task(batcher.submit(body(1), None))
    kept = asyncio.create_task(batcher.submit(body(2), None))
    await turns()
    gone.cancel()
    model.gate.set()
    assert await asyncio.wait_for(kept, 1.0) == {"predictions": [2]}
    await first
    assert model.calls == [1, 1]
    await batcher.close()


async def test_max_latency_bounds_the_wait_behind_a_busy_model() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 0.0, ServerMetrics())
    first = await busy(batcher, model)
    waiting = [asyncio.create_task(batcher.submit(body(v), None)) for v in (1, 2)]
    await turns()
    # 0: no wait for the busy model: the queued requests started their batch alongside it
    assert model.calls == [1, 2] and model.running == 2
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 1.0)

    model = GatedModel()
    batcher = Batcher("m", model, 8, 0.05, ServerMetrics())
    first = await busy(batcher, model)
    model.called.clear()
    late = asyncio.create_task(batcher.submit(body(1), None))
    await turns()
    assert model.calls == [1]  # waits behind the busy model ...
    await asyncio.wait_for(model.called.wait(), 5.0)
    assert model.calls == [1, 1] and model.running == 2  # ... until max_latency runs out
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, late), 1.0)
    await batcher.close()


async def test_unbatchable_and_oversized_requests_run_at_once_outside_the_queue() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 2, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    big = asyncio.create_task(batcher.submit(body(1, 1, 1), None))
    await turns()
    assert model.calls == [1, 3] and batcher.queued == 0
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, big), 1.0)
    await batcher.close()


async def test_close_lets_queued_batches_finish() -> None:
    model = GatedModel()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())
    first = await busy(batcher, model)
    queued = asyncio.create_task(batcher.submit(body(1), None))
    await turns()
    closing = asyncio.create_task(batcher.close())
    await turns()
    assert not closing.done()
    model.gate.set()
    await asyncio.wait_for(closing, 1.0)
    assert queued.done() and first.done() and model.calls == [1, 1]


class TaskRecordingModel(GatedModel):
    """A GatedModel that also records which task each call ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[asyncio.Task[Any] | None] = []

    async def __call__(self, payload: Any, headers: Any) -> Any:
        self.tasks.append(asyncio.current_task())
        return await super().__call__(payload, headers)


async def test_lone_requests_in_a_row_skip_the_queue_until_company_comes() -> None:
    model = TaskRecordingModel()
    model.gate.set()
    batcher = Batcher("m", model, 8, 10.0, ServerMetrics())

    async def lone(value: float) -> tuple[Any, bool]:
        """One request from its own task; whether the model ran in that task."""
        answer = await batcher.submit(body(value), None)
        return answer, model.tasks[-1] is asyncio.current_task()

    queued = [await asyncio.create_task(lone(v)) for v in range(batching.SOLO_AFTER)]
    assert all(answer == {"predictions": [v]} for v, (answer, _) in enumerate(queued))
    assert not any(here for _, here in queued)  # each went through the queue: a batch task
    solo = [await asyncio.create_task(lone(v)) for v in range(batching.PROBE_EVERY)]
    assert all(answer == {"predictions": [v]} for v, (answer, _) in enumerate(solo))
    # the first PROBE_EVERY - 1 ran in their own tasks; the last one probed through the queue
    assert [here for _, here in solo] == [True] * (batching.PROBE_EVERY - 1) + [False]

    # Company: requests that arrive while a lone one runs form a batch, and batching is back.
    model.gate.clear()
    first = asyncio.create_task(lone(100))
    await turns()
    assert model.running == 1 and model.tasks[-1] is first  # ran at once, in its own task
    company = [asyncio.create_task(batcher.submit(body(v), None)) for v in (1, 2, 3)]
    await turns()
    assert batcher.queued == 3
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *company), 1.0)
    assert model.calls[-2:] == [1, 3]
    answer, here = await asyncio.create_task(lone(5))
    assert answer == {"predictions": [5]} and not here  # through the queue again
    await batcher.close()
