"""Bad input never takes the server down: one table of statuses, the same over every protocol.

Every malformed request (broken JSON, wrong shapes, data that does not fit its shape, unknown
datatypes, models or versions, oversized bodies) gets a 4xx over REST, with the body
`{"error": "..."}`, or INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED over gRPC; never a 500.
Each case is followed by a good request over the same protocol, which must still be answered
correctly. A 500 (INTERNAL) is kept for what it means: the model's own code failed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferOutput, InferRequest, InferResponse
from modelplane.core.model import Headers, Model
from modelplane.protocol import errors as wire_errors
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings

MODEL = "sklearn-iris"
FAULTY = "faulty"
ECHO = "echo"
MAX_REQUEST = 4096
ROW = [5.1, 3.5, 1.4, 0.2]  # iris class 0
V1_PREDICT = f"/v1/models/{MODEL}:predict"
V2_INFER = f"/v2/models/{MODEL}/infer"
HEADER_LENGTH = "Inference-Header-Content-Length"
DROP = object()


class Faulty(Model):
    """A custom model with a bug of its own: predict raises a plain RuntimeError."""

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        raise RuntimeError("the model's own bug")


class Echo(Model):
    """Answers a V2 request with its inputs as outputs: it accepts any tensors at all, so what
    is refused is refused by the protocol layer, not by a model."""

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        assert isinstance(payload, InferRequest)
        outputs = [
            InferOutput(tensor.name, tensor.shape, tensor.datatype, tensor.as_numpy())
            for tensor in payload.inputs
        ]
        return InferResponse(payload.id, self.name, outputs)


@pytest.fixture(scope="module")
def server(iris_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = server_settings(
        model_name=MODEL,
        storage_uri=str(iris_dir),
        cache_dir=tmp_path_factory.mktemp("cache"),
        max_request_size=MAX_REQUEST,
    )
    with serving(settings, models=[Faulty(FAULTY), Echo(ECHO)]) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server: RunningServer) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


# --- request builders --------------------------------------------------------------------------


def tensor(**overrides: Any) -> dict[str, Any]:
    """A good V2 JSON input tensor for iris, with fields replaced (or dropped with DROP)."""
    spec: dict[str, Any] = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}
    spec.update(overrides)
    return {key: value for key, value in spec.items() if value is not DROP}


def v2_body(*inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"inputs": list(inputs) if inputs else [tensor()], **fields}


def binary(
    inputs: list[dict[str, Any]],
    blob: bytes,
    *,
    header_length: int | None = None,
    path: str = V2_INFER,
) -> tuple[str, bytes, dict[str, str]]:
    """A binary-extension request: JSON header, then `blob`; the header length is the real
    one unless given."""
    header = orjson.dumps({"inputs": inputs})
    length = len(header) if header_length is None else header_length
    return path, header + blob, {HEADER_LENGTH: str(length)}


def binary_input(
    size: Any, *, shape: list[int] | None = None, datatype: str = "FP64"
) -> dict[str, Any]:
    return {
        "name": "input-0",
        "shape": [1, 4] if shape is None else shape,
        "datatype": datatype,
        "parameters": {"binary_data_size": size},
    }


FEATURES = np.array([ROW], dtype="<f8").tobytes()  # 32 bytes, FP64 [1, 4]


def bytes_blob(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def grpc_request(
    *,
    model: str = MODEL,
    version: str = "",
    shape: tuple[int, ...] = (1, 4),
    datatype: str = "FP64",
    contents: pb.InferTensorContents | None = None,
    raw: list[bytes] | None = None,
    **fields: Any,
) -> pb.ModelInferRequest:
    """A typed-contents iris request (or raw, when `raw` is given), with parts replaced."""
    if contents is None and raw is None:
        contents = pb.InferTensorContents(fp64_contents=ROW)
    tensor_fields: dict[str, Any] = {"name": "input-0", "datatype": datatype, "shape": shape}
    if contents is not None:
        tensor_fields["contents"] = contents
    inputs = fields.pop("inputs", [pb.ModelInferRequest.InferInputTensor(**tensor_fields)])
    return pb.ModelInferRequest(
        model_name=model,
        model_version=version,
        inputs=inputs,
        raw_input_contents=raw or [],
        **fields,
    )


# --- the good request after every bad one ------------------------------------------------------


def assert_error_body(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"].strip()
    return str(body["error"])


def assert_v1_still_works(http: httpx.Client) -> None:
    response = http.post(V1_PREDICT, json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [0]}


def assert_v2_still_works(http: httpx.Client) -> None:
    response = http.post(V2_INFER, json=v2_body())
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0]


def assert_binary_still_works(http: httpx.Client) -> None:
    path, body, headers = binary([binary_input(len(FEATURES))], FEATURES)
    response = http.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0]


def assert_grpc_still_works(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    response = stub.ModelInfer(grpc_request(), timeout=30)
    assert response.model_name == MODEL
    assert list(response.outputs[0].contents.int64_contents) == [0]


def grpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert isinstance(error.details(), str) and error.details().strip()
    return error


# --- V1 REST -----------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


V1_CASES = [
    pytest.param(V1_PREDICT, b'{"instances": [[1, 2', 400, id="malformed-json"),
    pytest.param(V1_PREDICT, b"", 400, id="empty-body"),
    pytest.param(V1_PREDICT, b"\xff\xfe{}", 400, id="not-utf8"),
    pytest.param(V1_PREDICT, b"[]", 400, id="json-array"),
    pytest.param(V1_PREDICT, b"3", 400, id="json-number"),
    pytest.param(V1_PREDICT, b'"x"', 400, id="json-string"),
    pytest.param(V1_PREDICT, b"null", 400, id="json-null"),
    pytest.param(V1_PREDICT, b"{}", 400, id="missing-instances"),
    pytest.param(V1_PREDICT, _json({"instances": 3}), 400, id="instances-a-number"),
    pytest.param(V1_PREDICT, _json({"instances": "rows"}), 400, id="instances-a-string"),
    pytest.param(V1_PREDICT, _json({"instances": {"a": ROW}}), 400, id="instances-a-dict"),
    pytest.param(V1_PREDICT, _json({"inputs": 3}), 400, id="inputs-a-number"),
    pytest.param(V1_PREDICT, _json({"instances": []}), 400, id="instances-empty"),
    pytest.param(V1_PREDICT, _json({"instances": ROW}), 400, id="flat-row-not-rows"),
    pytest.param(V1_PREDICT, _json({"instances": [ROW, ROW[:3]]}), 400, id="ragged-rows"),
    pytest.param(V1_PREDICT, _json({"instances": [[1, 2, "x", 4]]}), 400, id="string-feature"),
    pytest.param(V1_PREDICT, _json({"instances": [[[1, 2, 3, 4]]]}), 400, id="three-dims"),
    pytest.param(V1_PREDICT, _json({"instances": [ROW[:3]]}), 400, id="wrong-feature-count"),
    pytest.param(V1_PREDICT, _json({"instances": [[None, 1, 2, 3]]}), 400, id="nan-feature"),
    pytest.param("/v1/models/nope:predict", _json({"instances": [ROW]}), 404, id="unknown-model"),
    pytest.param(
        f"/v1/models/{MODEL}:explain", _json({"instances": [ROW]}), 501, id="explain-unsupported"
    ),
    pytest.param(f"/v1/models/{MODEL}:explain", b"{", 400, id="explain-malformed-json"),
]


@pytest.mark.parametrize(("path", "body", "status"), V1_CASES)
def test_v1_rest_bad_input(http: httpx.Client, path: str, body: bytes, status: int) -> None:
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert_error_body(response, status)
    assert_v1_still_works(http)


# --- V2 REST JSON ------------------------------------------------------------------------------

V2_JSON_CASES = [
    pytest.param(V2_INFER, b'{"inputs": [', None, 400, id="malformed-json"),
    pytest.param(V2_INFER, b"", None, 400, id="empty-body"),
    pytest.param(V2_INFER, b"[]", None, 400, id="json-array"),
    pytest.param(V2_INFER, b"3", None, 400, id="json-number"),
    pytest.param(V2_INFER, b'"x"', None, 400, id="json-string"),
    pytest.param(V2_INFER, _json({}), None, 400, id="missing-inputs"),
    pytest.param(V2_INFER, _json({"inputs": tensor()}), None, 400, id="inputs-not-a-list"),
    pytest.param(V2_INFER, _json({"inputs": []}), None, 400, id="inputs-empty"),
    pytest.param(V2_INFER, _json({"inputs": [3]}), None, 400, id="input-not-an-object"),
    pytest.param(V2_INFER, _json(v2_body(tensor(name=DROP))), None, 400, id="input-no-name"),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=DROP))), None, 400, id="shape-missing"),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=4))), None, 400, id="shape-not-a-list"),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=[-1, 4]))), None, 400, id="negative-dim"),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=[1.5, 4]))), None, 400, id="float-dim"),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(shape=[1.0, 4]))), None, 400, id="integral-float-dim"
    ),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=[True, 4]))), None, 400, id="bool-dim"),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=["1", 4]))), None, 400, id="string-dim"),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(data=ROW[:3]))), None, 400, id="data-shorter-than-shape"
    ),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(data=ROW + ROW))), None, 400, id="data-longer-than-shape"
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(shape=[2, 4], data=[ROW, ROW[:3]]))),
        None,
        400,
        id="ragged-data",
    ),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(datatype="FP128"))), None, 400, id="unknown-datatype"
    ),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(datatype="fp64"))), None, 400, id="lowercase-datatype"
    ),
    pytest.param(V2_INFER, _json(v2_body(tensor(datatype=DROP))), None, 400, id="datatype-missing"),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(datatype=["FP64"]))), None, 400, id="datatype-a-list"
    ),
    pytest.param(V2_INFER, _json(v2_body(tensor(data=DROP))), None, 400, id="data-missing"),
    pytest.param(V2_INFER, _json(v2_body(tensor(data=None))), None, 400, id="data-null"),
    pytest.param(
        V2_INFER, _json(v2_body(tensor(data=list("abcd")))), None, 400, id="data-not-numbers"
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(datatype="INT8", data=[1000, 0, 0, 0]))),
        None,
        400,
        id="value-out-of-range",
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(datatype="BYTES", data=["a", "b", "c", "d"]))),
        None,
        400,
        id="bytes-features",
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(datatype="BYTES", data=[1, 2, 3, 4]))),
        None,
        400,
        id="bytes-not-strings",
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(shape=[1, 3], data=ROW[:3]))),
        None,
        400,
        id="wrong-feature-count",
    ),
    pytest.param(V2_INFER, _json(v2_body(tensor(shape=[4]))), None, 400, id="one-dimensional"),
    pytest.param(V2_INFER, _json(v2_body(tensor(), tensor(name="b"))), None, 400, id="two-inputs"),
    pytest.param(
        V2_INFER, _json(v2_body(outputs=[{"name": "nope"}])), None, 400, id="unknown-output"
    ),
    pytest.param(V2_INFER, _json(v2_body(outputs="x")), None, 400, id="outputs-not-a-list"),
    pytest.param(V2_INFER, _json(v2_body(outputs=[{}])), None, 400, id="output-without-name"),
    pytest.param(V2_INFER, _json(v2_body(id=7)), None, 400, id="id-not-a-string"),
    pytest.param(
        V2_INFER, _json(v2_body(parameters=[1])), None, 400, id="parameters-not-an-object"
    ),
    pytest.param(
        V2_INFER,
        _json(v2_body(tensor(parameters="x"))),
        None,
        400,
        id="input-parameters-not-an-object",
    ),
    pytest.param("/v2/models/nope/infer", _json(v2_body()), None, 404, id="unknown-model"),
    pytest.param(
        f"/v2/models/{MODEL}/versions/7/infer", _json(v2_body()), None, 404, id="unknown-version"
    ),
    pytest.param(
        V2_INFER, _json(v2_body()), {HEADER_LENGTH: "abc"}, 400, id="header-length-not-a-number"
    ),
    pytest.param(
        V2_INFER, _json(v2_body()), {HEADER_LENGTH: "-1"}, 400, id="header-length-negative"
    ),
    # '\xb2' is the latin-1 byte of '²', which str.isdigit() accepts and int() refuses.
    pytest.param(
        V2_INFER,
        _json(v2_body()),
        {HEADER_LENGTH: b"\xb2"},
        400,
        id="header-length-superscript-digit",
    ),
]


@pytest.mark.parametrize(("path", "body", "headers", "status"), V2_JSON_CASES)
def test_v2_rest_json_bad_input(
    http: httpx.Client, path: str, body: bytes, headers: dict[str, Any] | None, status: int
) -> None:
    all_headers = {"content-type": "application/json", **(headers or {})}
    response = http.post(path, content=body, headers=all_headers)
    assert_error_body(response, status)
    assert_v2_still_works(http)


# --- V2 REST binary extension ------------------------------------------------------------------

_HEADER = orjson.dumps({"inputs": [binary_input(32)]})

V2_BINARY_CASES = [
    pytest.param(binary([binary_input(16)], FEATURES[:16]), 400, id="binary-size-wrong-for-shape"),
    pytest.param(binary([binary_input(32)], FEATURES[:16]), 400, id="binary-size-past-body"),
    pytest.param(
        binary([binary_input(32)], FEATURES, header_length=len(_HEADER) + 33),
        400,
        id="header-length-past-body",
    ),
    pytest.param(
        binary([binary_input(32)], FEATURES, header_length=len(_HEADER) - 1),
        400,
        id="header-length-cuts-json",
    ),
    pytest.param(
        binary([binary_input(32)], FEATURES, header_length=len(_HEADER) + 1),
        400,
        id="header-length-into-binary",
    ),
    pytest.param(binary([binary_input(32)], FEATURES + b"\0" * 8), 400, id="leftover-bytes"),
    pytest.param(binary([tensor()], FEATURES), 400, id="binary-no-input-claims"),
    pytest.param(binary([binary_input(-1)], FEATURES), 400, id="binary-size-negative"),
    pytest.param(binary([binary_input("32")], FEATURES), 400, id="binary-size-a-string"),
    pytest.param(binary([binary_input(32.0)], FEATURES), 400, id="binary-size-a-float"),
    pytest.param(binary([binary_input(True)], FEATURES), 400, id="binary-size-a-bool"),
    pytest.param(
        binary([binary_input(32, datatype="FP128")], FEATURES), 400, id="unknown-datatype"
    ),
    pytest.param(binary([binary_input(32, shape=[-1, 4])], FEATURES), 400, id="negative-dim"),
    pytest.param(
        binary([binary_input(2, shape=[1], datatype="BYTES")], b"\x05\x00"),
        400,
        id="bytes-truncated-length-prefix",
    ),
    pytest.param(
        binary([binary_input(7, shape=[1], datatype="BYTES")], struct.pack("<I", 10) + b"abc"),
        400,
        id="bytes-element-past-data",
    ),
    pytest.param(
        binary([binary_input(9, shape=[2], datatype="BYTES")], bytes_blob(b"hello")),
        400,
        id="bytes-count-mismatch",
    ),
    pytest.param(
        binary([binary_input(12, shape=[1, 3])], FEATURES[:24]), 400, id="wrong-feature-count"
    ),
    pytest.param(
        binary([binary_input(32)], FEATURES, path="/v2/models/nope/infer"), 404, id="unknown-model"
    ),
]


@pytest.mark.parametrize(("request_parts", "status"), V2_BINARY_CASES)
def test_v2_rest_binary_bad_input(
    http: httpx.Client, request_parts: tuple[str, bytes, dict[str, str]], status: int
) -> None:
    path, body, headers = request_parts
    response = http.post(path, content=body, headers=headers)
    assert_error_body(response, status)
    assert_binary_still_works(http)


# --- gRPC --------------------------------------------------------------------------------------

_INPUT = pb.ModelInferRequest.InferInputTensor

GRPC_CASES = [
    pytest.param(
        grpc_request(contents=pb.InferTensorContents(fp64_contents=ROW[:3])),
        "INVALID_ARGUMENT",
        id="typed-contents-count-mismatch",
    ),
    pytest.param(
        grpc_request(raw=[FEATURES, FEATURES]), "INVALID_ARGUMENT", id="raw-count-mismatch"
    ),
    pytest.param(grpc_request(raw=[FEATURES[:16]]), "INVALID_ARGUMENT", id="raw-size-mismatch"),
    pytest.param(
        grpc_request(contents=pb.InferTensorContents(fp64_contents=ROW), raw=[FEATURES]),
        "INVALID_ARGUMENT",
        id="contents-and-raw",
    ),
    pytest.param(
        grpc_request(contents=pb.InferTensorContents(fp32_contents=ROW)),
        "INVALID_ARGUMENT",
        id="contents-in-wrong-field",
    ),
    pytest.param(grpc_request(datatype="FP128"), "INVALID_ARGUMENT", id="unknown-datatype"),
    pytest.param(grpc_request(datatype=""), "INVALID_ARGUMENT", id="empty-datatype"),
    pytest.param(
        grpc_request(datatype="FP16", contents=pb.InferTensorContents(fp32_contents=ROW)),
        "INVALID_ARGUMENT",
        id="fp16-as-typed-contents",
    ),
    pytest.param(grpc_request(shape=(-1, 4)), "INVALID_ARGUMENT", id="negative-dim"),
    pytest.param(
        grpc_request(
            datatype="INT8", contents=pb.InferTensorContents(int_contents=[1000, 0, 0, 0])
        ),
        "INVALID_ARGUMENT",
        id="value-out-of-range",
    ),
    pytest.param(
        grpc_request(datatype="BOOL", shape=(1, 4), raw=[b"\x00\x01\x02\x00"]),
        "INVALID_ARGUMENT",
        id="raw-bool-not-0-or-1",
    ),
    pytest.param(
        grpc_request(datatype="BYTES", shape=(1,), raw=[b"\x05\x00"]),
        "INVALID_ARGUMENT",
        id="raw-bytes-truncated-prefix",
    ),
    pytest.param(grpc_request(inputs=[]), "INVALID_ARGUMENT", id="no-inputs"),
    pytest.param(
        grpc_request(
            inputs=[
                _INPUT(
                    datatype="FP64",
                    shape=[1, 4],
                    contents=pb.InferTensorContents(fp64_contents=ROW),
                )
            ]
        ),
        "INVALID_ARGUMENT",
        id="input-without-name",
    ),
    pytest.param(
        grpc_request(
            inputs=[
                _INPUT(
                    name="x",
                    datatype="FP64",
                    shape=[1, 4],
                    contents=pb.InferTensorContents(fp64_contents=ROW),
                )
            ]
            * 2
        ),
        "INVALID_ARGUMENT",
        id="duplicate-input",
    ),
    pytest.param(
        grpc_request(parameters={"predict_proba": pb.InferParameter()}),
        "INVALID_ARGUMENT",
        id="parameter-without-value",
    ),
    pytest.param(
        grpc_request(outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="nope")]),
        "INVALID_ARGUMENT",
        id="unknown-output",
    ),
    pytest.param(
        grpc_request(shape=(1, 3), contents=pb.InferTensorContents(fp64_contents=ROW[:3])),
        "INVALID_ARGUMENT",
        id="wrong-feature-count",
    ),
    pytest.param(grpc_request(shape=(4,)), "INVALID_ARGUMENT", id="one-dimensional"),
    pytest.param(grpc_request(model="nope"), "NOT_FOUND", id="unknown-model"),
    pytest.param(grpc_request(model=""), "NOT_FOUND", id="no-model-name"),
    pytest.param(grpc_request(version="7"), "NOT_FOUND", id="unknown-version"),
]


@pytest.mark.parametrize(("request_message", "code"), GRPC_CASES)
def test_grpc_bad_input(
    stub: pb_grpc.GRPCInferenceServiceStub, request_message: pb.ModelInferRequest, code: str
) -> None:
    error = grpc_error(lambda: stub.ModelInfer(request_message, timeout=30))
    assert error.code() == grpc.StatusCode[code], error.details()
    assert_grpc_still_works(stub)


def test_grpc_metadata_of_unknown_models_is_not_found(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"), timeout=30),
        lambda: stub.ModelReady(pb.ModelReadyRequest(name="nope"), timeout=30),
        lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL, version="7"), timeout=30),
        lambda: stub.ModelReady(pb.ModelReadyRequest(name=MODEL, version="7"), timeout=30),
    ]
    for call in calls:
        assert grpc_error(call).code() == grpc.StatusCode.NOT_FOUND
    assert_grpc_still_works(stub)


def test_grpc_message_over_max_request_size_is_resource_exhausted(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    oversized = grpc_request(raw=[b"\0" * (2 * MAX_REQUEST)])
    error = grpc_error(lambda: stub.ModelInfer(oversized, timeout=30))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_grpc_still_works(stub)


# --- one table, the same over every protocol ---------------------------------------------------

Sender = Callable[[httpx.Client, pb_grpc.GRPCInferenceServiceStub], int | grpc.StatusCode]


def _rest(path: str, body: bytes, headers: dict[str, str] | None = None) -> Sender:
    def send(http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub) -> int:
        response = http.post(path, content=body, headers=headers or {})
        if response.status_code >= 400:
            assert_error_body(response, response.status_code)
        return response.status_code

    return send


def _grpc(message: pb.ModelInferRequest) -> Sender:
    def send(http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub) -> grpc.StatusCode:
        return grpc_error(lambda: stub.ModelInfer(message, timeout=30)).code()

    return send


SAME_ERROR = [
    pytest.param(
        errors.ModelNotFound,
        {
            "v1": _rest("/v1/models/nope:predict", _json({"instances": [ROW]})),
            "v2-json": _rest("/v2/models/nope/infer", _json(v2_body())),
            "v2-binary": _rest(*binary([binary_input(32)], FEATURES, path="/v2/models/nope/infer")),
            "grpc": _grpc(grpc_request(model="nope")),
        },
        id="unknown-model",
    ),
    pytest.param(
        errors.ModelNotFound,
        {
            "v2-json": _rest(f"/v2/models/{MODEL}/versions/7/infer", _json(v2_body())),
            "grpc": _grpc(grpc_request(version="7")),
        },
        id="unknown-version",
    ),
    pytest.param(
        errors.UnsupportedDatatype,
        {
            "v2-json": _rest(V2_INFER, _json(v2_body(tensor(datatype="FP128")))),
            "v2-binary": _rest(*binary([binary_input(32, datatype="FP128")], FEATURES)),
            "grpc": _grpc(grpc_request(datatype="FP128")),
        },
        id="unknown-datatype",
    ),
    pytest.param(
        errors.InvalidInput,
        {
            "v2-json": _rest(V2_INFER, _json(v2_body(tensor(data=ROW[:3])))),
            "v2-binary": _rest(*binary([binary_input(24)], FEATURES[:24])),
            "grpc": _grpc(grpc_request(contents=pb.InferTensorContents(fp64_contents=ROW[:3]))),
        },
        id="data-does-not-fit-shape",
    ),
    pytest.param(
        errors.InvalidInput,
        {
            "v1": _rest(V1_PREDICT, _json({"instances": [ROW[:3]]})),
            "v2-json": _rest(V2_INFER, _json(v2_body(tensor(shape=[1, 3], data=ROW[:3])))),
            "v2-binary": _rest(*binary([binary_input(24, shape=[1, 3])], FEATURES[:24])),
            "grpc": _grpc(
                grpc_request(shape=(1, 3), contents=pb.InferTensorContents(fp64_contents=ROW[:3]))
            ),
        },
        id="wrong-feature-count",
    ),
    pytest.param(
        errors.InferenceError,
        {
            "v1": _rest(f"/v1/models/{FAULTY}:predict", _json({"instances": [ROW]})),
            "v2-json": _rest(f"/v2/models/{FAULTY}/infer", _json(v2_body())),
            "grpc": _grpc(grpc_request(model=FAULTY)),
        },
        id="model-fault",
    ),
]


@pytest.mark.parametrize(("error", "senders"), SAME_ERROR)
def test_one_error_has_one_status_on_every_protocol(
    http: httpx.Client,
    stub: pb_grpc.GRPCInferenceServiceStub,
    error: type[errors.ModelplaneError],
    senders: dict[str, Sender],
) -> None:
    expected = wire_errors.TABLE[error]
    answers = {protocol: send(http, stub) for protocol, send in senders.items()}
    wanted = {
        protocol: grpc.StatusCode[expected.grpc] if protocol == "grpc" else expected.http
        for protocol in senders
    }
    assert answers == wanted


# --- body size ---------------------------------------------------------------------------------


def _padded(document: dict[str, Any], size: int) -> bytes:
    """`document` as JSON padded with trailing whitespace to exactly `size` bytes."""
    body = orjson.dumps(document)
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize(
    ("path", "document"),
    [
        pytest.param(V1_PREDICT, {"instances": [ROW]}, id="v1"),
        pytest.param(V2_INFER, v2_body(), id="v2"),
    ],
)
def test_body_at_the_limit_is_served_and_one_byte_more_is_413(
    http: httpx.Client, path: str, document: dict[str, Any]
) -> None:
    at_limit = http.post(path, content=_padded(document, MAX_REQUEST))
    assert at_limit.status_code == 200, at_limit.text
    over = http.post(path, content=_padded(document, MAX_REQUEST + 1))
    message = assert_error_body(over, 413)
    assert str(MAX_REQUEST) in message
    assert_v1_still_works(http)
    assert_v2_still_works(http)


@pytest.mark.parametrize("path", [V1_PREDICT, V2_INFER])
def test_oversized_body_with_content_length_is_413(http: httpx.Client, path: str) -> None:
    body = _padded({"instances": [ROW]} if "v1" in path else v2_body(), 4 * MAX_REQUEST)
    response = http.post(path, content=body)
    assert response.request.headers["content-length"] == str(len(body))
    assert_error_body(response, 413)
    assert_v1_still_works(http)
    assert_v2_still_works(http)


@pytest.mark.parametrize("path", [V1_PREDICT, V2_INFER])
def test_oversized_chunked_body_is_413(http: httpx.Client, path: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * MAX_REQUEST

    response = http.post(path, content=chunks())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert_error_body(response, 413)
    assert_v1_still_works(http)
    assert_v2_still_works(http)


def test_small_chunked_body_is_served(http: httpx.Client) -> None:
    body = orjson.dumps(v2_body())

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16):
            yield body[start : start + 16]

    response = http.post(V2_INFER, content=chunks())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0]


# --- routes, methods, verbs, versions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/v3/models", 404, id="unknown-route"),
        pytest.param("GET", "/v2/models", 404, id="v2-models-has-no-list"),
        # `/v1/models/{name}` takes any name, so an unknown verb is a wrong method on that route.
        pytest.param("POST", f"/v1/models/{MODEL}:train", 405, id="unknown-v1-verb"),
        pytest.param("POST", f"/v1/models/{MODEL}/predict", 404, id="v1-verb-after-slash"),
        pytest.param("POST", "/v2/health/live", 405, id="post-on-live"),
        pytest.param("DELETE", "/v2/health/ready", 405, id="delete-on-ready"),
        pytest.param("GET", V2_INFER, 405, id="get-on-infer"),
        pytest.param("PUT", V1_PREDICT, 405, id="put-on-predict"),
        pytest.param("POST", "/metrics", 405, id="post-on-metrics"),
        pytest.param("GET", "/v2/models/nope", 404, id="metadata-of-unknown-model"),
        pytest.param("GET", "/v2/models/nope/ready", 404, id="ready-of-unknown-model"),
        pytest.param("GET", "/v1/models/nope", 404, id="v1-status-of-unknown-model"),
        pytest.param("GET", f"/v2/models/{MODEL}/versions/7", 404, id="unknown-version"),
        pytest.param(
            "GET", f"/v2/models/{MODEL}/versions/7/ready", 404, id="unknown-version-ready"
        ),
        pytest.param("POST", "/v2/repository/models/nope/load", 404, id="load-unknown-model"),
        pytest.param("POST", "/v2/repository/models/nope/unload", 404, id="unload-unknown-model"),
    ],
)
def test_routes_and_methods(http: httpx.Client, method: str, path: str, status: int) -> None:
    assert_error_body(http.request(method, path), status)
    assert_v2_still_works(http)


def test_explain_on_a_model_without_explain_is_501(http: httpx.Client) -> None:
    response = http.post(f"/v1/models/{MODEL}:explain", json={"instances": [ROW]})
    message = assert_error_body(response, 501)
    assert "explain" in message
    assert_v1_still_works(http)


# --- a model's own fault is the one legitimate 500 ---------------------------------------------


def test_model_raising_runtime_error_is_500_with_its_message(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    v1 = http.post(f"/v1/models/{FAULTY}:predict", json={"instances": [ROW]})
    v2 = http.post(f"/v2/models/{FAULTY}/infer", json=v2_body())
    for response in (v1, v2):
        message = assert_error_body(response, 500)
        assert "RuntimeError" in message and "the model's own bug" in message
    error = grpc_error(lambda: stub.ModelInfer(grpc_request(model=FAULTY), timeout=30))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "RuntimeError" in error.details() and "the model's own bug" in error.details()
    assert_v1_still_works(http)
    assert_v2_still_works(http)
    assert_grpc_still_works(stub)


def test_sklearn_refusing_the_feature_count_is_400_not_500(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    v1 = http.post(V1_PREDICT, json={"instances": [[*ROW, 1.0]]})
    v2 = http.post(V2_INFER, json=v2_body(tensor(shape=[1, 5], data=[*ROW, 1.0])))
    for response in (v1, v2):
        message = assert_error_body(response, 400)
        assert "4 features" in message and "got 5" in message
    five = grpc_request(shape=(1, 5), contents=pb.InferTensorContents(fp64_contents=[*ROW, 1.0]))
    error = grpc_error(lambda: stub.ModelInfer(five, timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4 features" in error.details()


# --- the protocols agree on what is invalid, not only on how to say so -------------------------

_BOOL_BYTES = b"\x00\x01\x02\x00"  # 2 is no BOOL
_ECHO_INFER = f"/v2/models/{ECHO}/infer"
_FP64_INPUT = {"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}
_FP64_RAW = np.array([1.0], dtype="<f8").tobytes()


@pytest.mark.parametrize(
    "senders",
    [
        pytest.param(
            {
                "v2-binary": _rest(
                    *binary(
                        [binary_input(4, shape=[4], datatype="BOOL")], _BOOL_BYTES, path=_ECHO_INFER
                    )
                ),
                "grpc": _grpc(
                    grpc_request(model=ECHO, datatype="BOOL", shape=(4,), raw=[_BOOL_BYTES])
                ),
            },
            id="binary-bool-not-0-or-1",
        ),
        pytest.param(
            {
                "v2-json": _rest(_ECHO_INFER, _json({"inputs": [_FP64_INPUT, _FP64_INPUT]})),
                "v2-binary": _rest(
                    *binary(
                        [{**binary_input(8, shape=[1]), "name": "x"}] * 2,
                        _FP64_RAW * 2,
                        path=_ECHO_INFER,
                    )
                ),
                "grpc": _grpc(
                    grpc_request(
                        model=ECHO,
                        inputs=[
                            _INPUT(
                                name="x",
                                datatype="FP64",
                                shape=[1],
                                contents=pb.InferTensorContents(fp64_contents=[1.0]),
                            )
                        ]
                        * 2,
                    )
                ),
            },
            id="duplicate-input-name",
        ),
    ],
)
def test_the_same_bad_tensor_is_refused_over_every_protocol(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, senders: dict[str, Sender]
) -> None:
    answers = {protocol: send(http, stub) for protocol, send in senders.items()}
    wanted = {
        protocol: grpc.StatusCode.INVALID_ARGUMENT if protocol == "grpc" else 400
        for protocol in senders
    }
    assert answers == wanted
