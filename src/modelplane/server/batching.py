"""Adaptive batching: concurrent requests to one model merged into one model call, then split.

It works the same for V1, V2 REST and gRPC, because it sits in the data plane, after decoding.
Requests join a batch only with requests of the same signature (same protocol, same input
names, datatypes and per-row shapes, same parameters and requested outputs), so mixed shapes
never meet. The merged answer is split back by rows; when the merged call fails, or its answer
cannot be split by rows, each request runs alone, so every caller gets exactly the answer, or
the error, it would have got without batching.

Batching is opportunistic (Triton's dynamic batcher with no queue delay): it never holds a
request back to wait for company. A model has one batch in flight at a time:

- a request that finds the model idle goes to it at once, at the next turn of the event loop,
  with the requests that reached the queue in the same turn (a burst read in one go is one
  batch); no timer is involved, so a lone request pays one loop turn, not `max_latency`;
- requests that arrive while a batch runs queue; when it ends, the oldest queued request and
  those of its signature behind it, in arrival order up to `max_batch_size` rows, leave at once
  as the next batch, however few they are;
- after a run of batches of one (gRPC hands requests over one per loop turn, and a lone
  client sends one at a time), a request that finds the model idle and nobody queued runs at
  once in its own task, without the loop turn; every so often one takes the queue again to
  see whether company came back, and requests queued behind a lone one bring batching back;
- `max_latency` bounds the wait behind a busy model: once the oldest queued request has waited
  that long and the batch in flight still runs, its batch starts alongside, so a slow model
  still gets concurrent calls, as without batching, and no request waits longer than
  `max_latency` for its batch to start (0: queued requests never wait for a busy model; only
  requests that arrive in the same loop turn merge).

Requests that cannot be batched (see `signature`), or hold more than `max_batch_size` rows, run
at once on their own, outside the queue.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelplane.core.inference import InferInput, InferOutput, InferRequest, InferResponse
from modelplane.observability.metrics import ServerMetrics

# Runs one (possibly merged) payload through the model: the data plane's own pipeline. A merged
# payload carries the headers of the batch's first request.
Run = Callable[[Any, Any], Awaitable[Any]]

# After SOLO_AFTER batches of one request in a row, a request that finds the model idle and no
# one queued runs at once in its own task, saving the loop turn a batch waits for company (gRPC
# hands requests over one per turn, so its batches are all of one). Every PROBE_EVERY-th such
# request takes the queue again, to see whether company has come back.
SOLO_AFTER = 8
PROBE_EVERY = 16


@dataclass
class _Pending:
    payload: Any
    headers: Any
    rows: int
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """The batching queue of one model: one line per signature, one batch in flight."""

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
        # The labelled children, once: `labels()` takes a lock and builds a tuple per call.
        self._queue_seconds = metrics.batch_queue_seconds.labels(model_name)
        self._batch_size = metrics.batch_size.labels(model_name)
        # Emptied lines are dropped at once, so per-request parameters cannot pile up lines.
        self._queues: dict[Any, collections.deque[_Pending]] = {}
        self._in_flight = 0  # batches the model is running
        # A batch task was created and takes its requests when it first runs, a loop turn later.
        self._starting = False
        self._overdue_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._solo_batches = 0  # batches of one request in a row
        self._since_probe = 0

    @property
    def queued(self) -> int:
        """Requests waiting for a batch."""
        return sum(len(queue) for queue in self._queues.values())

    async def submit(self, payload: Any, headers: Any) -> Any:
        """Answer `payload`, batched with others when it can be; unbatchable ones run alone."""
        key, rows = signature(payload)
        if key is None or rows > self.max_batch_size:
            return await self._run(payload, headers)
        if (
            self._solo_batches >= SOLO_AFTER
            and not self._in_flight
            and not self._starting
            and not self._queues
        ):
            self._since_probe += 1
            if self._since_probe < PROBE_EVERY:
                return await self._solo(payload, headers, rows)
            self._since_probe = 0
        pending = _Pending(payload, headers, rows, asyncio.get_running_loop().create_future())
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = collections.deque()
        queue.append(pending)
        self._next()
        return await pending.future

    async def _solo(self, payload: Any, headers: Any, rows: int) -> Any:
        """A lone request on an idle model, run here as a batch of one."""
        self._in_flight += 1
        try:
            self._queue_seconds.observe(0.0)
            self._batch_size.observe(rows)
            return await self._run(payload, headers)
        finally:
            self._in_flight -= 1
            self._next()  # what queued behind it goes now

    def _next(self) -> None:
        """Arrange the next batch: now when the model is idle, else when the oldest queued
        request has waited `max_latency` (or sooner: when the batch in flight ends)."""
        if self._starting or not self._queues:
            return
        if self._in_flight == 0:
            self._start()
        elif self._overdue_timer is None:
            wait = self._oldest() + self.max_latency - time.perf_counter()
            loop = asyncio.get_running_loop()
            self._overdue_timer = loop.call_later(max(wait, 0.0), self._overdue)

    def _overdue(self) -> None:
        self._overdue_timer = None
        if self._starting or not self._queues:
            return
        if time.perf_counter() - self._oldest() >= self.max_latency:
            self._start()
        else:  # the request it was set for has left; wait for the one now oldest
            self._next()

    def _oldest(self) -> float:
        return min(queue[0].enqueued for queue in self._queues.values())

    def _start(self) -> None:
        if self._overdue_timer is not None:
            self._overdue_timer.cancel()
            self._overdue_timer = None
        self._starting = True
        task = asyncio.create_task(self._batch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _batch(self) -> None:
        self._starting = False
        batch = self._take()
        if not batch:
            return
        self._in_flight += 1
        try:
            self._next()  # what is left behind waits for this batch, at most max_latency
            await self._serve(batch)
        except Exception as exc:  # a fault of the batcher itself: no caller is left waiting
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            self._in_flight -= 1
            self._next()

    def _take(self) -> list[_Pending]:
        """The oldest queued request and those of its signature behind it, up to
        `max_batch_size` rows; requests whose callers went away are dropped."""
        while self._queues:
            key = min(self._queues, key=lambda k: self._queues[k][0].enqueued)
            queue = self._queues[key]
            batch: list[_Pending] = []
            rows = 0
            while queue:
                item = queue[0]
                if not item.future.done():
                    if rows + item.rows > self.max_batch_size:
                        break  # it opens the next batch
                    batch.append(item)
                    rows += item.rows
                queue.popleft()
            if not queue:
                del self._queues[key]
            if batch:
                return batch
        return []

    async def _serve(self, batch: list[_Pending]) -> None:
        now = time.perf_counter()
        for item in batch:
            self._queue_seconds.observe(now - item.enqueued)
        self._batch_size.observe(sum(i.rows for i in batch))
        self._solo_batches = self._solo_batches + 1 if len(batch) == 1 else 0
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
        """Wait for the batches in flight and any still queued (the servers have drained)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


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
