"""The protocol-agnostic data plane that the REST and gRPC adapters share.

It finds the model, runs `preprocess -> predict -> postprocess` (or `explain`), times each stage,
and shapes a V2 answer into an `InferResponse` whatever the model returned. Hooks the model does
not override are skipped; consecutive synchronous hooks run together in one trip to the thread
pool, so a sync model never blocks the event loop and pays for one thread hop, not three.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np

import modelplane
from modelplane.core import datatypes, errors
from modelplane.core.inference import InferOutput, InferRequest, InferResponse
from modelplane.core.model import Model, is_async, overrides
from modelplane.observability.metrics import ServerMetrics
from modelplane.server.batching import Batcher
from modelplane.server.repository import ModelRepository

Headers = Mapping[str, str]
# (hook name, is async); names, not bound methods, so the cache holds no model alive.
Stage = tuple[str, bool]

# A synchronous hook group whose calls take under INLINE_BELOW seconds of CPU runs inline on the
# event loop: the trip to a thread and back, and the GIL hand-offs between the pool and the
# loop under load, cost more than such a call. Measured, not assumed: a group starts in the
# thread pool, where each call's *CPU* time is taken (its wall time there includes waiting
# for the GIL, which says nothing about the model), and moves inline once PROBE_CALLS calls
# averaged (EWMA) under INLINE_BELOW. Inline, wall time is exact; once the average passes
# BACK_ABOVE (one sleep, one slow I/O call, one huge batch does it at once) the group goes back
# to the pool, and each return doubles the probation before it may move inline again, so a
# model that sleeps or waits on I/O ends up in the pool. See bench/NOTES.md.
INLINE_BELOW = 0.001
BACK_ABOVE = 0.002
PROBE_CALLS = 32
_WEIGHT = 0.1


class _SyncTiming:
    """How long a model's synchronous hook group takes, and so where it should run."""

    __slots__ = ("average", "calls", "inline", "probation")

    def __init__(self) -> None:
        self.calls = 0
        self.average = 0.0
        self.inline = False
        self.probation = PROBE_CALLS

    def record(self, seconds: float) -> None:
        """Record a call: CPU seconds in the pool, wall seconds inline."""
        self.calls += 1
        if self.calls == 1:
            self.average = seconds
        else:
            self.average += _WEIGHT * (seconds - self.average)
        if self.inline:
            if self.average > BACK_ABOVE:
                self.inline, self.calls = False, 0
                self.probation *= 2
        elif self.calls >= self.probation and self.average < INLINE_BELOW:
            self.inline = True


EXTENSIONS = ("binary_tensor_data", "model_repository", "parameters")


class DataPlane:
    def __init__(
        self,
        repository: ModelRepository,
        metrics: ServerMetrics,
        executor: Executor,
        max_batch_size: int = 0,
        max_latency: float = 0.0,
    ) -> None:
        self.repository = repository
        self.metrics = metrics
        self._executor = executor
        self._max_batch_size = max_batch_size
        self._max_latency = max_latency
        # One per model, for V1 and V2 alike (one batch in flight); weak keys, like the
        # pipelines below.
        self._batchers: weakref.WeakKeyDictionary[Model, Batcher] = weakref.WeakKeyDictionary()
        # Weak keys: a reloaded model's old object takes its pipelines with it.
        self._pipelines: weakref.WeakKeyDictionary[Model, dict[str, list[list[Stage]]]] = (
            weakref.WeakKeyDictionary()
        )
        self._timings: weakref.WeakKeyDictionary[Model, dict[tuple[str, int], _SyncTiming]] = (
            weakref.WeakKeyDictionary()
        )
        self.draining = False

    # -- health and metadata -------------------------------------------------------------

    async def ready(self) -> bool:
        return not self.draining and await self.repository.all_ready()

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelplane", "version": modelplane.__version__, "extensions": EXTENSIONS}

    async def model_ready(self, name: str, version: str | None = None) -> bool:
        self.repository.versions(name)  # 404 for an unknown model, whatever its state
        return await self.repository.is_ready(name, version)

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.repository.get(name, version)
        return {
            "name": name,
            "versions": self.repository.versions(name),
            "platform": model.platform,
            "inputs": model.get_input_types(),
            "outputs": model.get_output_types(),
        }

    # -- inference ---------------------------------------------------------------------------

    async def infer(self, request: InferRequest, headers: Headers | None = None) -> InferResponse:
        """Serve a V2 request (REST or gRPC)."""
        model = self.repository.get(request.model_name, request.model_version)
        batcher = self._batcher(model)
        if batcher is not None:
            response: InferResponse = await batcher.submit(request, headers)
            return response
        return await self._infer(model, request, headers)

    async def _infer(
        self, model: Model, request: InferRequest, headers: Headers | None
    ) -> InferResponse:
        result = await self._run(model, "predict", request, headers)
        return _as_infer_response(result, request, model)

    async def predict(self, name: str, payload: dict[str, Any], headers: Headers | None) -> Any:
        """Serve a V1 `:predict` request; the result is whatever the model returned."""
        model = self.repository.get(name)
        batcher = self._batcher(model)
        if batcher is not None:
            return await batcher.submit(payload, headers)
        return await self._run(model, "predict", payload, headers)

    def _batcher(self, model: Model) -> Batcher | None:
        if self._max_batch_size <= 1:
            return None
        batcher = self._batchers.get(model)
        if batcher is None:
            ref = weakref.ref(model)
            model_name = model.name

            async def run(payload: Any, headers: Headers | None) -> Any:
                target = ref()
                if target is None:  # unloaded while queued
                    raise errors.ModelNotReady(model_name)
                if isinstance(payload, InferRequest):
                    return await self._infer(target, payload, headers)
                return await self._run(target, "predict", payload, headers)

            batcher = Batcher(
                model_name, run, self._max_batch_size, self._max_latency, self.metrics
            )
            self._batchers[model] = batcher
        return batcher

    async def close(self) -> None:
        """Let the batching queues finish (after the servers have drained)."""
        for batcher in list(self._batchers.values()):
            await batcher.close()

    async def explain(self, name: str, payload: dict[str, Any], headers: Headers | None) -> Any:
        return await self._run(self.repository.get(name), "explain", payload, headers)

    async def call(self, model: Model, method: str, request: Any) -> Any:
        """Call a model method outside the predict pipeline (the OpenAI verbs of
        `core.completions`): a coroutine on the event loop, a plain method in the thread pool."""
        try:
            if is_async(model, method):
                return await getattr(model, method)(request)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, getattr(model, method), request)
        except errors.ModelplaneError:
            raise
        except Exception as exc:
            raise _model_fault(model, method, exc) from exc

    async def _run(self, model: Model, verb: str, payload: Any, headers: Headers | None) -> Any:
        for index, group in enumerate(self._pipeline(model, verb)):
            if group[0][1]:
                payload = await self._timed_async(model, group[0][0], payload, headers)
                continue
            timing = self._timings.setdefault(model, {}).get((verb, index))
            if timing is None:
                timing = self._timings[model][(verb, index)] = _SyncTiming()
            if timing.inline:
                payload, seconds, _ = self._run_sync_group(model, group, payload, headers)
                timing.record(seconds)
            else:
                loop = asyncio.get_running_loop()
                payload, _, cpu = await loop.run_in_executor(
                    self._executor, self._run_sync_group, model, group, payload, headers
                )
                timing.record(cpu)
        return payload

    def _pipeline(self, model: Model, verb: str) -> list[list[Stage]]:
        per_model = self._pipelines.setdefault(model, {})
        pipeline = per_model.get(verb)
        if pipeline is None:
            stages = [
                (hook, is_async(model, hook))
                for hook in ("preprocess", verb, "postprocess")
                if hook == verb or overrides(model, hook)
            ]
            pipeline = []
            for stage in stages:
                if pipeline and not stage[1] and not pipeline[-1][-1][1]:
                    pipeline[-1].append(stage)
                else:
                    pipeline.append([stage])
            per_model[verb] = pipeline
        return pipeline

    async def _timed_async(
        self,
        model: Model,
        stage: str,
        payload: Any,
        headers: Headers | None,
    ) -> Any:
        start = time.perf_counter()
        try:
            return await getattr(model, stage)(payload, headers)
        except errors.ModelplaneError:
            raise
        except Exception as exc:
            raise _model_fault(model, stage, exc) from exc
        finally:
            self.metrics.stage(model.name, stage).observe(time.perf_counter() - start)

    def _run_sync_group(
        self, model: Model, group: list[Stage], payload: Any, headers: Headers | None
    ) -> tuple[Any, float, float]:
        """Run consecutive sync hooks; returns the result, their wall time and their CPU time."""
        total = 0.0
        cpu_start = time.thread_time()
        for stage, _ in group:
            start = time.perf_counter()
            try:
                payload = getattr(model, stage)(payload, headers)
            except errors.ModelplaneError:
                raise
            except Exception as exc:
                raise _model_fault(model, stage, exc) from exc
            finally:
                took = time.perf_counter() - start
                total += took
                self.metrics.stage(model.name, stage).observe(took)
        return payload, total, time.thread_time() - cpu_start


def _model_fault(model: Model, stage: str, exc: Exception) -> errors.InferenceError:
    return errors.InferenceError(
        f"model '{model.name}' raised {type(exc).__name__} in {stage}: {exc}"
    )


def _as_infer_response(result: Any, request: InferRequest, model: Model) -> InferResponse:
    if isinstance(result, InferResponse):
        response = result
    else:
        if isinstance(result, dict):
            if "predictions" not in result:
                raise errors.InferenceError(
                    f"model '{model.name}' answered a V2 request with a dict that has no "
                    "'predictions'; return an InferResponse"
                )
            result = result["predictions"]
        response = InferResponse(request.id, model.name, [_output("output-0", result)])
    if response.id is None:
        response.id = request.id
    if response.model_version is None:
        response.model_version = model.version
    if request.request_outputs:
        response.outputs = _select(response.outputs, request, model)
    return response


def _output(name: str, value: Any) -> InferOutput:
    array = np.asarray(value)
    if array.dtype.kind in "US":
        encoded = np.empty(array.shape, dtype=np.object_)
        encoded.reshape(-1)[:] = [
            x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in array.reshape(-1)
        ]
        array = encoded
    return InferOutput(name, array.shape, datatypes.from_numpy(array.dtype), array)


def _select(outputs: list[InferOutput], request: InferRequest, model: Model) -> list[InferOutput]:
    by_name = {output.name: output for output in outputs}
    selected = []
    for wanted in request.request_outputs:
        output = by_name.get(wanted.name)
        if output is None:
            raise errors.InvalidInput(
                f"model '{model.name}' has no output '{wanted.name}'; "
                f"it produces: {', '.join(by_name) or 'nothing'}"
            )
        selected.append(output)
    return selected
