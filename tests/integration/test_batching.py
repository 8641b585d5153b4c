"""Adaptive batching: the same answers as without it, for every protocol, under concurrency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from modelplane import InferOutput, InferResponse, Model
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings

ROWS = np.random.default_rng(7).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (64, 4))


class RowSizes(Model):
    """Echoes each row's sum and records how many rows each predict call saw.

    Its first call holds (in the thread pool) until `release` is set, so that the test decides
    when the model is busy and which requests queue behind it.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls: list[int] = []
        self.lock = threading.Lock()
        self.ready = True
        self.busy = threading.Event()
        self.release = threading.Event()

    def predict(self, payload: Any, headers: Any = None) -> Any:
        x = payload.inputs[0].as_numpy()
        with self.lock:
            self.calls.append(x.shape[0])
            first = len(self.calls) == 1
        if first:
            self.busy.set()
            self.release.wait(30)
        if (x < 0).any():
            raise ValueError("negative values are refused")
        sums = x.reshape(x.shape[0], -1).sum(axis=1)
        return InferResponse(payload.id, self.name, [InferOutput("sum", sums.shape, "FP64", sums)])


@pytest.fixture(scope="module")
def pair(
    iris_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    common = {"model_name": "iris", "storage_uri": str(iris_dir), "access_log": False,
              "cache_dir": tmp_path_factory.mktemp("cache")}  # fmt: skip
    with (
        serving(server_settings(**common)) as plain,
        serving(server_settings(max_batch_size=32, max_latency_ms=20, **common)) as batched,
    ):
        yield plain, batched


def assert_same_answer(have: Any, want: Any) -> None:
    """Equal, except that floats may differ in the last bits.

    Vectorised maths (BLAS) may round a row differently when it is computed among other rows,
    so a probability can change in its 16th digit; classes, ids, shapes and names are exact.
    """
    if isinstance(want, dict):
        assert isinstance(have, dict) and have.keys() == want.keys()
        for key in want:
            assert_same_answer(have[key], want[key])
    elif isinstance(want, list):
        assert isinstance(have, list) and len(have) == len(want)
        for a, b in zip(have, want, strict=True):
            assert_same_answer(a, b)
    elif isinstance(want, float):
        assert have == pytest.approx(want, rel=1e-12, abs=1e-15)
    else:
        assert have == want and type(have) is type(want)


def _v2_body(rows: np.ndarray[Any, Any], proba: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }
    if proba:
        body["outputs"] = [{"name": "output-0"}, {"name": "predict_proba"}]
    return body


async def _all(url: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(*(client.post(path, json=body) for path, body in bodies))


def _requests() -> list[tuple[str, dict[str, Any]]]:
    bodies: list[tuple[str, dict[str, Any]]] = []
    for i in range(48):
        size = 1 + i % 3  # mixed row counts merge; the answers must still split right
        rows = ROWS[i : i + size]
        bodies.append(("/v1/models/iris:predict", {"instances": rows.tolist()}))
        bodies.append(
            ("/v2/models/iris/infer", {"id": f"r{i}", **_v2_body(rows, proba=i % 2 == 0)})
        )
    return bodies


def test_rest_answers_are_identical_with_and_without_batching(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    plain, batched = pair
    requests = _requests()
    expected = asyncio.run(_all(plain.http_url, requests))
    got = asyncio.run(_all(batched.http_url, requests))
    for want, have in zip(expected, got, strict=True):
        assert have.status_code == want.status_code == 200
        assert_same_answer(have.json(), want.json())
    sizes = batched.srv.metrics.registry.get_sample_value(
        "modelplane_batch_size_sum", {"model": "iris"}
    )
    calls = batched.srv.metrics.registry.get_sample_value(
        "modelplane_batch_size_count", {"model": "iris"}
    )
    assert sizes is not None and calls is not None and sizes > calls  # rows were merged


def test_grpc_answers_are_identical_with_and_without_batching(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    async def run(target: str) -> list[pb.ModelInferResponse]:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            calls = []
            for i in range(40):
                rows = ROWS[i : i + 1 + i % 2]
                request = pb.ModelInferRequest(model_name="iris", id=str(i))
                tensor = request.inputs.add(name="input-0", datatype="FP64", shape=rows.shape)
                if i % 2:
                    request.raw_input_contents.append(rows.astype("<f8").tobytes())
                else:
                    tensor.contents.fp64_contents.extend(rows.reshape(-1).tolist())
                calls.append(stub.ModelInfer(request))
            return list(await asyncio.gather(*calls))

    plain, batched = pair
    expected = asyncio.run(run(plain.grpc_target))
    got = asyncio.run(run(batched.grpc_target))
    assert got == expected


def test_a_bad_request_inside_a_batch_fails_alone(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    _, batched = pair
    good = [("/v1/models/iris:predict", {"instances": [ROWS[i].tolist()]}) for i in range(12)]
    bad = ("/v1/models/iris:predict", {"instances": [[1.0, 2.0, 3.0]]})
    responses = asyncio.run(_all(batched.http_url, [*good[:6], bad, *good[6:]]))
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 6 + [400] + [200] * 6
    assert "4 features" in responses[6].json()["error"]
    plain_answers = [r.json() for r in asyncio.run(_all(pair[0].http_url, good))]
    assert [r.json() for r in responses[:6] + responses[7:]] == plain_answers


def test_requests_behind_a_busy_model_merge_and_keep_shapes_apart() -> None:
    model = RowSizes("sums")
    # max_latency 60 s: whatever merges here merged because the model was busy, not on a timer
    settings = server_settings(max_batch_size=4, max_latency_ms=60_000, access_log=False)
    path = "/v2/models/sums/infer"
    wide = [(path, _v2_body(np.ones((1, 4)) * i)) for i in range(6)]
    narrow = [(path, _v2_body(np.ones((2, 3)) * i)) for i in range(6)]
    poison = (path, _v2_body(np.full((1, 4), -1.0)))

    async def scenario(running: RunningServer) -> list[httpx.Response]:
        registry = running.srv.metrics.registry
        async with httpx.AsyncClient(base_url=running.http_url, timeout=30) as client:
            opener = asyncio.create_task(client.post(path, json=_v2_body(np.ones((1, 4)))))
            assert await asyncio.to_thread(model.busy.wait, 30)  # the model holds call one
            rest = [client.post(p, json=b) for p, b in [*wide, *narrow, poison]]
            behind = asyncio.gather(*rest)
            while (
                registry.get_sample_value("modelplane_requests_in_flight", {"protocol": "v2"}) != 14
            ):
                await asyncio.sleep(0.01)  # polled: every request is inside the server
            model.release.set()
            assert (await opener).status_code == 200
            return list(await behind)

    with serving(settings, models=[model]) as running:
        responses = asyncio.run(scenario(running))
    sums = [r.json()["outputs"][0]["data"] for r in responses[:12]]
    assert sums == [[4.0 * i] for i in range(6)] + [[3.0 * i, 3.0 * i] for i in range(6)]
    assert responses[12].status_code == 500
    assert "negative values" in responses[12].json()["error"]
    assert model.calls[0] == 1 and max(model.calls[1:]) > 2  # merged calls happened ...
    assert max(model.calls) <= 4  # ... never past max_batch_size


def test_batching_is_off_by_default(iris_server: RunningServer) -> None:
    response = httpx.post(
        f"{iris_server.http_url}/v1/models/sklearn-iris:predict",
        json={"instances": ROWS[:2].tolist()},
    )
    assert response.status_code == 200
    assert (
        iris_server.srv.metrics.registry.get_sample_value(
            "modelplane_batch_size_count", {"model": "sklearn-iris"}
        )
        is None
    )
