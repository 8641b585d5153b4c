"""`modelplane serve` of an ONNX graph and a TorchScript program, as a user runs it.

Each model has two inputs and several outputs; the server is a subprocess answering V2 REST
(JSON) and gRPC (raw tensor contents, through modelplane's own stubs) with the framework's own
outputs, describing the model in V2 metadata, and refusing a wrong shape or datatype with a
400 or INVALID_ARGUMENT that names the input. (TorchScript rather than `torch.export` here:
loading an exported program imports TorchDynamo, seconds more per start; the contract suite
loads both kinds.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from modelplane.core import datatypes
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support import tensor_models
from tests.support.process import ServeProcess
from tests.support.tensor_models import Named, Reference

RNG = np.random.default_rng(0)
INPUTS: dict[str, Named] = {
    "onnx": {name: RNG.normal(size=(2, 3)).astype(np.float32) for name in ("a", "b")},
    "pytorch": {
        "features": RNG.normal(size=(3, 4)).astype(np.float32),
        "counts": np.array([1, 2, 3], dtype=np.int64),
    },
}
BUILDERS: dict[str, Callable[[Path], tuple[Path, Reference]]] = {
    "onnx": tensor_models.onnx_add_mul,
    "pytorch": tensor_models.torchscript,
}


@pytest.fixture(scope="module", params=["onnx", "pytorch"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    platform: str = request.param
    path, reference = BUILDERS[platform](tmp_path_factory.mktemp(platform))
    args = ["--model-name", "m", "--storage-uri", str(path.parent), "--threads", "1"]
    cache = str(tmp_path_factory.mktemp("cache"))
    with ServeProcess(
        *args, "--http-port", "0", "--grpc-port", "0", "--cache-dir", cache
    ) as server:
        server.wait_ready()
        yield platform, server, reference(INPUTS[platform])
        assert server.terminate() == 0


def test_metadata_describes_the_model(served: Any) -> None:
    platform, server, expected = served

    metadata = httpx.get(f"{server.url}/v2/models/m").json()

    assert metadata["platform"] == platform
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
        (name, datatypes.from_numpy(array.dtype)) for name, array in INPUTS[platform].items()
    ]
    assert [t["name"] for t in metadata["outputs"]] == list(expected)


def test_v2_rest_answers_the_frameworks_outputs(served: Any) -> None:
    platform, server, expected = served
    body = {
        "id": "r1",
        "inputs": [
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatypes.from_numpy(array.dtype),
                "data": array.reshape(-1).tolist(),
            }
            for name, array in INPUTS[platform].items()
        ],
    }

    answer = httpx.post(f"{server.url}/v2/models/m/infer", json=body)

    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    assert [output["name"] for output in outputs] == list(expected)
    for output in outputs:
        want = expected[output["name"]]
        assert output["shape"] == list(want.shape)
        assert output["datatype"] == datatypes.from_numpy(want.dtype)
        got = np.asarray(output["data"], dtype=want.dtype).reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_grpc_raw_contents_answer_the_frameworks_outputs(served: Any) -> None:
    platform, server, expected = served
    request = pb.ModelInferRequest(model_name="m", id="g1")
    for name, array in INPUTS[platform].items():
        tensor = request.inputs.add()
        tensor.name, tensor.datatype = name, datatypes.from_numpy(array.dtype)
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(array.astype(array.dtype.newbyteorder("<")).tobytes())

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)

    assert response.id == "g1"
    assert [output.name for output in response.outputs] == list(expected)
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        want = expected[output.name]
        got = np.frombuffer(raw, dtype=want.dtype).reshape(list(output.shape))
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_wrong_shape_is_refused_naming_the_input(served: Any) -> None:
    platform, server, _ = served
    name, array = next(iter(INPUTS[platform].items()))
    bad = {"name": name, "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}
    others = [
        {"name": n, "shape": list(a.shape), "datatype": datatypes.from_numpy(a.dtype),
         "data": a.reshape(-1).tolist()}
        for n, a in INPUTS[platform].items() if n != name
    ]  # fmt: skip

    answer = httpx.post(f"{server.url}/v2/models/m/infer", json={"inputs": [bad, *others]})

    assert answer.status_code == 400
    assert f"'{name}' has shape [1, 2]" in answer.json()["error"]
    assert f"takes [-1, {array.shape[1]}]" in answer.json()["error"]


def test_a_wrong_datatype_over_grpc_is_invalid_argument(served: Any) -> None:
    platform, server, _ = served
    request = pb.ModelInferRequest(model_name="m")
    for name, array in INPUTS[platform].items():
        tensor = request.inputs.add()
        tensor.name, tensor.datatype = name, "FP64"
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(array.astype("<f8").tobytes())

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=30)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is FP64, but the model takes" in str(caught.value.details())
