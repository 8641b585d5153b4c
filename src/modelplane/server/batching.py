"""Adaptive batching: concurrent requests to one model merged into one model call, then split.

It works the same for V1, V2 REST and gRPC, because it sits in the data plane, after decoding.
Requests join a batch only with requests of the same signature (same protocol, same input
names, datatypes and per-row shapes, same parameters and requested outputs), so mixed shapes
never meet. The first request of a batch waits at most `max_latency` for others, and a full
batch (`max_batch_size` rows) leaves at once. The merged answer is split back by rows; when the
merged call fails, or its answer cannot be split by rows, each request runs alone, so every
caller gets exactly the answer, or the error, it would have got without batching.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelplane.core.inference import InferInput, InferOutput, InferRequest, InferResponse
from modelplane.observability.metrics import ServerMetrics

# A queue whose signature has seen no request for this long is dropped with its worker, so
# requests that each carry different parameters cannot pile up idle queues.
IDLE_QUEUE_SECONDS = 30.0

# Runs one (possibly merged) payload through the model: the data plane's own pipeline. A merged
# payload carries the headers of the batch's first request.
Run = Callable[[Any, Any], Awaitable[Any]]


@dataclass
class _Pending:
    payload: Any
    headers: Any
    rows: int
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """The batching queues of one model."""

    def __init__(
        self,
        model_name: str,
        run: Run,
        max_batch_size: int,
        max_latency: float,
        metrics: ServerMetrics,
    ) -> None:
        self.model_name = model_name
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency
        self._metrics = metrics
        self._queues: dict[Any, asyncio.Queue[_Pending]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, payload: Any, headers: Any) -> Any:
        """Answer `payload`, batched with others when it can be; unbatchable ones run alone."""
        key, rows = signature(payload)
        if key is None or rows > self.max_batch_size:
            return await self._run(payload, headers)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            worker = asyncio.create_task(self._collect(key, queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        pending = _Pending(payload, headers, rows, asyncio.get_running_loop().create_future())
        queue.put_nowait(pending)
        return await pending.future

    async def _collect(self, key: Any, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), IDLE_QUEUE_SECONDS)
            except TimeoutError:
                # No await between this check and the removal: no request can slip in between.
                if queue.empty():
                    del self._queues[key]
                    return
                continue
            batch, rows = [first], first.rows
            deadline = first.enqueued + self.max_latency
            while rows < self.max_batch_size:
                if queue.empty():
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                else:
                    item = queue.get_nowait()
                if rows + item.rows > self.max_batch_size:
                    # It opens the next batch; its own wait started when it arrived.
                    self._dispatch(batch)
                    batch, rows = [item], item.rows
                    deadline = item.enqueued + self.max_latency
                    continue
                batch.append(item)
                rows += item.rows
            self._dispatch(batch)

    def _dispatch(self, batch: list[_Pending]) -> None:
        task = asyncio.create_task(self._serve(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _serve(self, batch: list[_Pending]) -> None:
        now = time.perf_counter()
        for item in batch:
            self._metrics.batch_queue_seconds.labels(self.model_name).observe(now - item.enqueued)
        self._metrics.batch_size.labels(self.model_name).observe(sum(i.rows for i in batch))
        if len(batch) == 1:
            await self._answer_alone(batch[0])
            return
        try:
            merged = await self._run(merge([item.payload for item in batch]), batch[0].headers)
            answers = split(merged, [item.payload for item in batch], [i.rows for i in batch])
        except Exception:
            answers = None
        if answers is None:
            await asyncio.gather(*(self._answer_alone(item) for item in batch))
            return
        for item, answer in zip(batch, answers, strict=True):
            if not item.future.done():
                item.future.set_result(answer)

    async def _answer_alone(self, item: _Pending) -> None:
        try:
            result = await self._run(item.payload, item.headers)
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
        else:
            if not item.future.done():
                item.future.set_result(result)

    async def close(self) -> None:
        for task in [*self._workers]:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


def signature(payload: Any) -> tuple[Any, int]:
    """What a payload must share with others to be merged, and its row count.

    `(None, 0)` means "cannot be batched": tensors without a row dimension, inputs whose row
    counts differ, or a V1 body without an `instances` list.
    """
    if isinstance(payload, InferRequest):
        rows = None
        parts: list[Any] = ["v2", payload.model_version]
        for tensor in payload.inputs:
            shape = tensor.shape
            if not shape or (rows is not None and shape[0] != rows):
                return None, 0
            rows = shape[0]
            parts.append((tensor.name, tensor.datatype, tuple(shape[1:])))
        parts.append(tuple(o.name for o in payload.request_outputs))
        parts.append(_frozen([payload.parameters, [o.parameters for o in payload.request_outputs]]))
        return (tuple(parts), rows) if rows else (None, 0)
    if isinstance(payload, dict):
        instances = payload.get("instances")
        if not isinstance(instances, list) or not instances:
            return None, 0
        rest = {k: v for k, v in payload.items() if k != "instances"}
        return ("v1", _frozen(rest)), len(instances)
    return None, 0


def _frozen(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


def merge(payloads: list[Any]) -> Any:
    """One payload holding every row of `payloads`, which share a signature."""
    first = payloads[0]
    if isinstance(first, dict):
        merged = dict(first)
        merged["instances"] = [row for p in payloads for row in p["instances"]]
        return merged
    inputs = []
    for index, tensor in enumerate(first.inputs):
        arrays = [p.inputs[index].as_numpy() for p in payloads]
        array = np.concatenate(arrays)
        inputs.append(
            InferInput(tensor.name, array.shape, tensor.datatype, array, tensor.parameters)
        )
    return InferRequest(
        first.model_name,
        inputs,
        parameters=first.parameters,
        request_outputs=first.request_outputs,
        model_version=first.model_version,
        from_grpc=first.from_grpc,
    )


def split(result: Any, payloads: list[Any], rows: list[int]) -> list[Any] | None:
    """Each payload's share of a merged result, or None when it cannot be split by rows."""
    total = sum(rows)
    bounds = np.cumsum([0, *rows])
    if isinstance(payloads[0], dict):
        if not isinstance(result, dict):
            return None
        predictions = result.get("predictions")
        if isinstance(predictions, np.ndarray):
            predictions = list(predictions)
        if not isinstance(predictions, list) or len(predictions) != total:
            return None
        return [
            {**result, "predictions": predictions[bounds[i] : bounds[i + 1]]}
            for i in range(len(payloads))
        ]
    if not isinstance(result, InferResponse):
        return None
    arrays = [output.as_numpy() for output in result.outputs]
    if any(a.ndim == 0 or a.shape[0] != total for a in arrays):
        return None
    answers = []
    for i, payload in enumerate(payloads):
        outputs = [
            InferOutput(o.name, a[bounds[i] : bounds[i + 1]].shape, o.datatype,
                        a[bounds[i] : bounds[i + 1]], dict(o.parameters))
            for o, a in zip(result.outputs, arrays, strict=True)
        ]  # fmt: skip
        answers.append(
            InferResponse(
                payload.id,
                result.model_name,
                outputs,
                model_version=result.model_version,
                parameters=dict(result.parameters),
                from_grpc=payload.from_grpc,
            )
        )
    return answers
