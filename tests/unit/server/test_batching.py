"""Batching's pure parts: which payloads may merge, how they merge and split back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from modelplane.core.inference import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    RequestedOutput,
)
from modelplane.server.batching import merge, signature, split


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


async def test_idle_queues_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.observability.metrics import ServerMetrics
    from modelplane.server import batching

    monkeypatch.setattr(batching, "IDLE_QUEUE_SECONDS", 0.01)

    async def run(payload: object, headers: object) -> object:
        return {"predictions": [1] * len(payload["instances"])}  # type: ignore[index]

    batcher = batching.Batcher("m", run, 8, 0.0, ServerMetrics())
    for extra in range(3):  # three signatures, three queues
        answer = await batcher.submit({"instances": [[1]], "parameters": {"n": extra}}, None)
        assert answer == {"predictions": [1]}
    assert len(batcher._queues) == 3
    await asyncio.wait_for(_until(lambda: not batcher._queues), 5)
    assert await batcher.submit({"instances": [[1]]}, None) == {"predictions": [1]}
    await batcher.close()


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.005)
