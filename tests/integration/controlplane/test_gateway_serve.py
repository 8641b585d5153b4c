"""The gateway in front of a real `modelplane serve` replica: REST predict and gRPC by model_name.

One replica process (an iris model trained in the fixture) serves the whole module; each test
starts its own gateway on port 0 in the test's loop and routes to it. The gRPC client is grpcio
with modelplane's own protobuf stubs, so the bytes are what any OIP client sends.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from modelplane.controlplane.gateway import Backend, Gateway, RevisionTarget, ServiceRoute
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.asgi import serving
from tests.support.models import IRIS_ROWS, train_sklearn
from tests.support.process import ServeProcess

MODEL = "sklearn-iris"
REVISION = "sklearn-iris-predictor-00001"
HOST = f"{MODEL}.default.example.com"


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    model_dir = train_sklearn(Path(tmp_path_factory.mktemp("iris")))
    args = ["--model-name", MODEL, "--storage-uri", str(model_dir)]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "0") as server:
        server.wait_ready()
        yield server


def backend(server: ServeProcess, name: str = "replica-1") -> Backend:
    return Backend(name, server.url, f"127.0.0.1:{server.grpc_port}")


def iris_route(*backends: Backend, timeout: float | None = None) -> ServiceRoute:
    target = RevisionTarget("default", REVISION, 100, backends)
    return ServiceRoute("default", MODEL, (HOST,), (target,), timeout)


@asynccontextmanager
async def gateway(**kwargs: Any) -> AsyncIterator[tuple[Gateway, str, str]]:
    gw = Gateway(**kwargs)
    try:
        async with serving(gw.http_app()) as url:
            grpc_port = await gw.start_grpc("127.0.0.1", 0)
            yield gw, url, f"127.0.0.1:{grpc_port}"
    finally:
        await gw.close()


def infer_request(model: str = MODEL) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[2, 4])
    tensor.contents.fp64_contents.extend(v for row in IRIS_ROWS for v in row)
    return request


def predictions(answer: pb.ModelInferResponse) -> list[int]:
    output = answer.outputs[0]
    if answer.raw_output_contents:
        assert output.datatype == "INT64"
        return np.frombuffer(answer.raw_output_contents[0], dtype="<i8").tolist()  # type: ignore[no-any-return]
    return list(output.contents.int64_contents)


async def test_rest_predict_by_host_and_by_path(replica: ServeProcess) -> None:
    async with gateway() as (gw, url, _), httpx.AsyncClient(base_url=url) as client:
        gw.set_routes([iris_route(backend(replica))])
        body = {"instances": IRIS_ROWS}
        by_host = await client.post(
            f"/v1/models/{MODEL}:predict", json=body, headers={"host": HOST}
        )
        assert by_host.status_code == 200 and by_host.json() == {"predictions": [0, 2]}
        assert by_host.headers["x-modelplane-revision"] == REVISION
        v2 = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": IRIS_ROWS}]}
        by_path = await client.post(f"/v2/models/{MODEL}/infer", json=v2)
        assert by_path.status_code == 200 and by_path.json()["outputs"][0]["data"] == [0, 2]


async def test_grpc_infer_routes_by_model_name(replica: ServeProcess) -> None:
    async with gateway() as (gw, _, target):
        dead = Backend("gone", "http://127.0.0.1:9", "127.0.0.1:9")  # refuses: retried elsewhere
        gw.set_routes([iris_route(dead, backend(replica))])
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            assert (await stub.ServerLive(pb.ServerLiveRequest())).live
            assert (await stub.ModelReady(pb.ModelReadyRequest(name=MODEL))).ready
            for _ in range(4):
                call = stub.ModelInfer(infer_request(), metadata=(("x-request-id", "r-1"),))
                answer = await call
                assert answer.model_name == MODEL
                assert predictions(answer) == [0, 2]
                assert dict(await call.initial_metadata())["x-modelplane-revision"] == REVISION
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await stub.ModelInfer(infer_request("nope"))
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
            assert "nope" in (unknown.value.details() or "")
        assert gw.in_flight("gone") == 0 and gw.in_flight("replica-1") == 0


async def test_grpc_without_a_replica_is_unavailable_after_the_activation_timeout(
    replica: ServeProcess,
) -> None:
    async with gateway(activation_timeout=0.2) as (gw, _, target):
        gw.set_routes([iris_route()])
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as held:
                await stub.ModelInfer(infer_request())
            assert held.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "no replica" in (held.value.details() or "")


async def test_grpc_call_held_by_the_activator_is_answered_once_a_replica_is_routed(
    replica: ServeProcess,
) -> None:
    demanded = asyncio.Event()
    async with gateway(on_demand=lambda ns, rev: demanded.set()) as (gw, _, target):
        gw.set_routes([iris_route()])

        async def scale_from_zero() -> None:
            await demanded.wait()
            gw.set_routes([iris_route(backend(replica))])

        scaler = asyncio.create_task(scale_from_zero())
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            answer = await stub.ModelInfer(infer_request())
        await scaler
        assert predictions(answer) == [0, 2]


async def test_grpc_to_a_service_without_grpc_is_unimplemented_at_once(
    replica: ServeProcess,
) -> None:
    async with gateway(activation_timeout=60) as (gw, _, target):
        rest_only = Backend("custom-1", replica.url, None)  # a container with no gRPC port
        gw.set_routes([iris_route(rest_only)])
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ModelInfer(infer_request(), timeout=10)  # not the 60 s activation
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "does not serve gRPC" in (refused.value.details() or "")


async def test_grpc_to_a_replica_that_never_accepts_fails_over_after_the_connect_timeout(
    replica: ServeProcess,
) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect hangs.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))
    try:
        async with gateway(connect_timeout=0.5) as (gw, _, target):
            stuck = Backend("stuck", f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
            gw.set_routes([iris_route(stuck, backend(replica))])
            async with grpc.aio.insecure_channel(target) as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                for _ in range(4):  # the tie-break rotates: some try `stuck` first
                    answer = await stub.ModelInfer(infer_request(), timeout=15)  # not gRPC's 20 s
                    assert predictions(answer) == [0, 2]
            assert gw.in_flight("stuck") == 0
    finally:
        queued.close()
        full.close()
