"""TensorFlow SavedModels behind a real server: TF Serving's REST format on V1, V2 REST and gRPC.

One server for the module (TensorFlow's import is the slow part): `pair` (a TF 2 `tf.Module`
with two inputs and a second `strings` signature) read through `--storage-uri` as `serve` reads
it, and `flowers` (a TF 1 graph in version directory `0001/`, shaped as KServe's flowers
sample). Every answer is compared with TensorFlow's own outputs for the same inputs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from modelplane.runtimes import selector
from tests.support import tf_models
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings
from tests.support.tf_models import Named, Reference

FEATURES = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]], dtype=np.float32)
IDS = np.array([7, 11], dtype=np.int64)
IMAGE = bytes(range(200))  # not UTF-8: it must travel as b64


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Reference]]:
    root = tmp_path_factory.mktemp("tf")
    return {"pair": tf_models.pair(root / "pair"), "flowers": tf_models.flowers(root / "flowers")}


@pytest.fixture(scope="module")
def server(
    built: dict[str, tuple[Path, Reference]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    settings = server_settings(
        model_name="pair",
        storage_uri=str(built["pair"][0]),
        model_format="tensorflow",
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    flowers = selector.create_model("flowers", built["flowers"][0], model_format="tensorflow")
    with serving(settings, models=[flowers]) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def expected(built: dict[str, tuple[Path, Reference]]) -> Named:
    return built["pair"][1]({"features": FEATURES, "ids": IDS})


def close(got: Any, want: np.ndarray[Any, Any]) -> None:
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_metadata_lists_the_default_signature(http: httpx.Client) -> None:
    metadata = http.get("/v2/models/pair").json()

    assert metadata["platform"] == "tensorflow"
    assert metadata["inputs"] == [
        {"name": "features", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "ids", "datatype": "INT64", "shape": [-1]},
    ]
    assert metadata["outputs"] == [
        {"name": "doubled", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ]


def test_row_format_names_inputs_per_instance_and_outputs_per_prediction(
    http: httpx.Client, expected: Named
) -> None:
    rows = [{"features": f.tolist(), "ids": int(i)} for f, i in zip(FEATURES, IDS, strict=True)]

    answer = http.post("/v1/models/pair:predict", json={"instances": rows})

    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [sorted(p) for p in predictions] == [["doubled", "probabilities"]] * 2
    close([p["probabilities"] for p in predictions], expected["probabilities"])
    assert [p["doubled"] for p in predictions] == expected["doubled"].tolist()


def test_columnar_format_answers_outputs_by_name(http: httpx.Client, expected: Named) -> None:
    body = {"inputs": {"features": FEATURES.tolist(), "ids": IDS.tolist()}}

    answer = http.post("/v1/models/pair:predict", json=body)

    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    close(outputs["probabilities"], expected["probabilities"])
    assert outputs["doubled"] == expected["doubled"].tolist()


def test_a_named_signature_takes_b64_and_answers_bytes_outputs_in_b64(
    http: httpx.Client, built: dict[str, tuple[Path, Reference]]
) -> None:
    text = np.array([b"tulip", IMAGE], dtype=np.object_)
    want = tf_models.runner(built["pair"][0], "strings")({"text": text})
    body = {
        "signature_name": "strings",
        "instances": ["tulip", {"b64": base64.b64encode(IMAGE).decode()}],
    }

    answer = http.post("/v1/models/pair:predict", json=body)

    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["length"] for p in predictions] == want["length"].tolist()
    decoded = [base64.b64decode(p["upper_bytes"]["b64"]) for p in predictions]
    assert decoded == want["upper_bytes"].tolist()


def test_the_flowers_sample_request_is_answered_as_tf_serving_answers_it(
    http: httpx.Client, built: dict[str, tuple[Path, Reference]]
) -> None:
    want = built["flowers"][1](
        {"image_bytes": np.array([IMAGE], dtype=np.object_), "key": np.array([b"   1"], object)}
    )
    row = {"image_bytes": {"b64": base64.b64encode(IMAGE).decode()}, "key": "   1"}

    answer = http.post("/v1/models/flowers:predict", json={"instances": [row]})

    assert answer.status_code == 200, answer.text
    [prediction] = answer.json()["predictions"]
    assert prediction["key"] == "   1"
    assert prediction["prediction"] == int(want["prediction"][0])
    close(prediction["scores"], want["scores"][0])


def test_v2_rest_answers_tensorflows_outputs(http: httpx.Client, expected: Named) -> None:
    body = {
        "inputs": [
            {"name": "ids", "shape": [2], "datatype": "INT64", "data": IDS.tolist()},
            {"name": "features", "shape": [2, 4], "datatype": "FP32", "data": FEATURES.tolist()},
        ]
    }

    answer = http.post("/v2/models/pair/infer", json=body)

    assert answer.status_code == 200, answer.text
    outputs = {output["name"]: output for output in answer.json()["outputs"]}
    assert list(outputs) == ["doubled", "probabilities"]
    assert outputs["doubled"]["data"] == expected["doubled"].tolist()
    assert outputs["probabilities"]["shape"] == [2, 3]
    close(np.reshape(outputs["probabilities"]["data"], (2, 3)), expected["probabilities"])


def test_grpc_raw_contents_answer_tensorflows_outputs(
    server: RunningServer, expected: Named
) -> None:
    request = pb.ModelInferRequest(model_name="pair", id="g1")
    for name, array, datatype in (("features", FEATURES, "FP32"), ("ids", IDS, "INT64")):
        tensor = request.inputs.add()
        tensor.name, tensor.datatype = name, datatype
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(array.tobytes())

    with grpc.insecure_channel(server.grpc_target) as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)

    assert response.id == "g1"
    got = {
        output.name: np.frombuffer(raw, dtype=expected[output.name].dtype).reshape(output.shape)
        for output, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    assert list(got) == ["doubled", "probabilities"]
    np.testing.assert_array_equal(got["doubled"], expected["doubled"])
    close(got["probabilities"], expected["probabilities"])


def test_grpc_bytes_inputs_reach_a_tf1_graph(
    server: RunningServer, built: dict[str, tuple[Path, Reference]]
) -> None:
    want = built["flowers"][1](
        {"image_bytes": np.array([IMAGE], dtype=np.object_), "key": np.array([b"k"], object)}
    )
    request = pb.ModelInferRequest(model_name="flowers")
    for name, value in (("image_bytes", IMAGE), ("key", b"k")):
        tensor = request.inputs.add(name=name, datatype="BYTES", shape=[1])
        tensor.contents.bytes_contents.append(value)
    request.outputs.add(name="prediction")

    with grpc.insecure_channel(server.grpc_target) as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)

    [output] = response.outputs
    assert output.name == "prediction" and output.datatype == "INT64"
    # Asked in typed contents, answered in typed contents.
    assert list(output.contents.int64_contents) == want["prediction"].tolist()


BAD = {
    "missing input": ({"instances": [{"features": [1.0, 2.0, 3.0, 4.0]}]}, "missing input 'ids'"),
    "unknown input": (
        {"inputs": {"features": [[1.0, 2.0, 3.0, 4.0]], "ids": [1], "extra": [1]}},
        "no input 'extra'",
    ),
    "plain rows": ({"instances": [[1.0, 2.0, 3.0, 4.0]]}, "takes 2 inputs"),
    "unknown signature": (
        {"signature_name": "nope", "inputs": {"ids": [1]}},
        "no signature 'nope'; its signatures are",
    ),
    "wrong shape": (
        {"inputs": {"features": [[1.0, 2.0]], "ids": [1]}},
        "'features' has shape [1, 2], but the model takes [-1, 4]",
    ),
    "bad b64": ({"signature_name": "strings", "instances": [{"b64": "*"}]}, "not base64"),
}


@pytest.mark.parametrize(("body", "message"), BAD.values(), ids=BAD.keys())
def test_bad_v1_bodies_are_400s_that_say_what_to_fix(
    http: httpx.Client, body: dict[str, Any], message: str
) -> None:
    answer = http.post("/v1/models/pair:predict", json=body)

    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_a_wrong_datatype_over_grpc_is_invalid_argument(server: RunningServer) -> None:
    request = pb.ModelInferRequest(model_name="pair")
    for name, shape in (("features", [1, 4]), ("ids", [1])):
        tensor = request.inputs.add(name=name, datatype="FP64", shape=shape)
        tensor.contents.fp64_contents.extend([1.0] * int(np.prod(shape)))

    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=30)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'features' is FP64, but the model takes FP32" in str(caught.value.details())
