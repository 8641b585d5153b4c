"""The DataPlane: hook pipelines, thread hops, V2 response shaping, outputs selection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferOutput, InferRequest, InferResponse
from modelplane.core.model import Model
from modelplane.observability.metrics import ServerMetrics
from modelplane.server.dataplane import DataPlane
from modelplane.server.repository import ModelRepository


class Recording(Model):
    """Sync pre/predict/post that record which thread ran them."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.threads: list[str] = []
        self.ready = True

    def preprocess(self, payload: Any, headers: Any = None) -> Any:
        self.threads.append(threading.current_thread().name)
        return payload

    def predict(self, payload: Any, headers: Any = None) -> Any:
        self.threads.append(threading.current_thread().name)
        return {"predictions": [len(payload.get("instances", []))]}

    def postprocess(self, result: Any, headers: Any = None) -> Any:
        self.threads.append(threading.current_thread().name)
        return result


class AsyncV2(Model):
    ready = True

    async def predict(self, payload: Any, headers: Any = None) -> Any:
        x = payload.inputs[0].as_numpy()
        return InferResponse(
            None,
            self.name,
            [
                InferOutput("double", x.shape, "FP64", x * 2),
                InferOutput("half", x.shape, "FP64", x / 2),
            ],
        )


class Faulty(Model):
    ready = True

    def predict(self, payload: Any, headers: Any = None) -> Any:
        raise RuntimeError("boom")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2, thread_name_prefix="model") as pool:
        yield pool


def plane(executor: ThreadPoolExecutor, *models: Model) -> DataPlane:
    repo = ModelRepository(lambda spec: {})
    for model in models:
        repo.add_model(model)
    return DataPlane(repo, ServerMetrics(), executor)


async def _loaded(dp: DataPlane) -> DataPlane:
    await dp.repository.load_all()
    return dp


async def test_sync_hooks_run_off_the_loop_in_one_hop(executor: ThreadPoolExecutor) -> None:
    model = Recording("r")
    dp = await _loaded(plane(executor, model))
    assert await dp.predict("r", {"instances": [1, 2]}, None) == {"predictions": [2]}
    assert len(model.threads) == 3
    assert len(set(model.threads)) == 1
    assert model.threads[0].startswith("model")
    samples = dp.metrics.registry.get_sample_value(
        "modelplane_stage_duration_seconds_count", {"model": "r", "stage": "postprocess"}
    )
    assert samples == 1


def _request(name: str, outputs: list[str] | None = None) -> InferRequest:
    from modelplane.core.inference import RequestedOutput

    return InferRequest(
        name,
        [InferInput("x", [2], "FP64", [1.0, 4.0])],
        request_id="abc",
        request_outputs=[RequestedOutput(o) for o in outputs or []],
    )


async def test_v2_response_gets_the_request_id_and_selected_outputs(
    executor: ThreadPoolExecutor,
) -> None:
    dp = await _loaded(plane(executor, AsyncV2("a")))
    response = await dp.infer(_request("a", ["half"]))
    assert response.id == "abc"
    assert [o.name for o in response.outputs] == ["half"]
    assert response.outputs[0].as_numpy().tolist() == [0.5, 2.0]
    with pytest.raises(errors.InvalidInput, match="produces: double, half"):
        await dp.infer(_request("a", ["nope"]))


async def test_a_v1_style_answer_becomes_an_infer_response(executor: ThreadPoolExecutor) -> None:
    class Labels(Model):
        ready = True

        def predict(self, payload: Any, headers: Any = None) -> Any:
            return {"predictions": ["setosa", "virginica"]}

    dp = await _loaded(plane(executor, Labels("l")))
    response = await dp.infer(_request("l"))
    out = response.outputs[0]
    assert (out.name, out.datatype, out.shape) == ("output-0", "BYTES", [2])
    assert out.as_numpy().tolist() == [b"setosa", b"virginica"]


async def test_model_faults_are_inference_errors(executor: ThreadPoolExecutor) -> None:
    dp = await _loaded(plane(executor, Faulty("f")))
    with pytest.raises(errors.InferenceError, match="RuntimeError in predict: boom"):
        await dp.predict("f", {}, None)


async def test_metadata_and_readiness(executor: ThreadPoolExecutor) -> None:
    dp = plane(executor, AsyncV2("a"))
    assert not await dp.ready()
    await dp.repository.load_all()
    assert await dp.ready()
    assert dp.model_metadata("a")["name"] == "a"
    dp.draining = True
    assert not await dp.ready()
    with pytest.raises(errors.ModelNotFound):
        await dp.model_ready("zzz")
    assert np.asarray(dp.server_metadata()["extensions"]).size >= 1


async def test_a_fast_sync_model_moves_inline_and_a_slow_call_moves_it_back(
    executor: ThreadPoolExecutor,
) -> None:
    from modelplane.server import dataplane as dataplane_module

    model = Recording("r")
    dp = await _loaded(plane(executor, model))
    loop_thread = threading.current_thread().name
    for _ in range(dataplane_module.PROBE_CALLS):
        await dp.predict("r", {"instances": [1]}, None)
    assert loop_thread not in model.threads  # measured in the pool first
    model.threads.clear()
    await dp.predict("r", {"instances": [1]}, None)
    assert model.threads == [loop_thread] * 3  # then inline: no thread hop

    class Slow(Recording):
        def predict(self, payload: Any, headers: Any = None) -> Any:
            import time

            time.sleep(dataplane_module.BACK_ABOVE * 20)
            return super().predict(payload, headers)

    model.__class__ = Slow
    await dp.predict("r", {"instances": [1]}, None)  # inline once, found slow ...
    model.__class__ = Recording
    model.threads.clear()
    for _ in range(dataplane_module.PROBE_CALLS * 2):
        await dp.predict("r", {"instances": [1]}, None)
    assert loop_thread not in model.threads  # ... so back to the pool, on a longer probation
    model.threads.clear()
    model.__class__ = Slow
    await dp.predict("r", {"instances": [1]}, None)
    # A sleeping model costs no CPU, so after the probation it is tried inline again, once:
    assert model.threads == [loop_thread] * 3
    model.__class__ = Recording
    model.threads.clear()
    for _ in range(dataplane_module.PROBE_CALLS * 4):
        await dp.predict("r", {"instances": [1]}, None)
    assert loop_thread not in model.threads  # and the probation doubled again


async def test_v1_and_v2_requests_of_a_model_share_one_batching_queue(
    executor: ThreadPoolExecutor,
) -> None:
    class Held(Model):
        """Counts rows per call; each call waits for `gate`."""

        ready = True

        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.calls: list[tuple[str, int]] = []
            self.gate = asyncio.Event()

        async def predict(self, payload: Any, headers: Any = None) -> Any:
            if isinstance(payload, InferRequest):
                x = payload.inputs[0].as_numpy()
                self.calls.append(("v2", x.shape[0]))
                await self.gate.wait()
                return InferResponse(None, self.name, [InferOutput("y", x.shape, "FP64", x)])
            self.calls.append(("v1", len(payload["instances"])))
            await self.gate.wait()
            return {"predictions": payload["instances"]}

    model = Held("h")
    repo = ModelRepository(lambda spec: {})
    repo.add_model(model)
    dp = await _loaded(DataPlane(repo, ServerMetrics(), executor, 8, 10.0))

    def v2(value: float) -> InferRequest:
        return InferRequest("h", [InferInput("x", [1, 1], "FP64", np.full((1, 1), value))])

    async def turns() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    first = asyncio.create_task(dp.predict("h", {"instances": [[0]]}, None))
    await turns()
    assert model.calls == [("v1", 1)]  # idle: at once, though max_latency is 10 s
    v2s = [asyncio.create_task(dp.infer(v2(v))) for v in (1.0, 2.0)]
    v1s = [asyncio.create_task(dp.predict("h", {"instances": [[v]]}, None)) for v in (3, 4)]
    await turns()
    assert model.calls == [("v1", 1)]  # one batch in flight per model, whatever the protocol
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *v2s, *v1s), 1.0)
    assert model.calls == [("v1", 1), ("v2", 2), ("v1", 2)]
    assert [t.result().outputs[0].as_numpy().tolist() for t in v2s] == [[[1.0]], [[2.0]]]
    assert [t.result() for t in v1s] == [{"predictions": [[3]]}, {"predictions": [[4]]}]
    await dp.close()
