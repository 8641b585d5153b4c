"""The REST wire formats and the error table: V1 JSON, V2 JSON with the binary tensor extension,
and the one mapping from the error tree to HTTP statuses and gRPC codes."""

from __future__ import annotations

import struct
from typing import Any

import grpc
import numpy as np
import orjson
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferOutput, InferRequest, InferResponse, RequestedOutput
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import v1, v2
from tests.support.samples import SAMPLES

DATATYPES = list(SAMPLES)


def assert_same(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.dtype == object
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)


def blob_of(datatype: str, array: np.ndarray[Any, Any]) -> bytes:
    """A tensor's binary-extension bytes, written here independently of the codec."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(item)) + item for item in array.reshape(-1))
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


def binary_request(
    tensors: list[tuple[str, str, np.ndarray[Any, Any]]], **doc: Any
) -> tuple[bytes, int]:
    """A binary-extension body carrying every tensor as binary data, and its JSON length."""
    inputs, blobs = [], []
    for name, datatype, array in tensors:
        blob = blob_of(datatype, array)
        blobs.append(blob)
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(blob)},
            }
        )
    header = orjson.dumps({"inputs": inputs, **doc})
    return header + b"".join(blobs), len(header)


def split_response(body: bytes, json_length: int | None) -> dict[str, np.ndarray[Any, Any]]:
    """Decode an encoded response back into arrays, reading binary outputs by hand."""
    header = orjson.loads(body[: json_length if json_length is not None else len(body)])
    offset = json_length or 0
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for output in header["outputs"]:
        datatype, shape = output["datatype"], output["shape"]
        size = output.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = output["data"]
            if datatype == "BYTES":
                arrays[output["name"]] = np.array(
                    [item.encode() for item in data], dtype=object
                ).reshape(shape)
            else:
                arrays[output["name"]] = np.array(data, dtype=SAMPLES[datatype].dtype).reshape(
                    shape
                )
            continue
        chunk = body[offset : offset + size]
        offset += size
        if datatype == "BYTES":
            items, pos = [], 0
            while pos < len(chunk):
                (length,) = struct.unpack_from("<I", chunk, pos)
                items.append(chunk[pos + 4 : pos + 4 + length])
                pos += 4 + length
            arrays[output["name"]] = np.array(items, dtype=object).reshape(shape)
        else:
            dtype = SAMPLES[datatype].dtype.newbyteorder("<")
            arrays[output["name"]] = np.frombuffer(chunk, dtype=dtype).reshape(shape)
    assert offset == len(body) or json_length is None
    return arrays


def response_of(*outputs: InferOutput, **fields: Any) -> InferResponse:
    return InferResponse(fields.pop("response_id", None), "m", list(outputs), **fields)


def output(datatype: str, name: str | None = None) -> InferOutput:
    array = SAMPLES[datatype]
    return InferOutput(name or datatype.lower(), list(array.shape), datatype, array)


# --- V1 ----------------------------------------------------------------------------------------


def test_v1_decode_gives_the_body_as_a_dict() -> None:
    body = {"instances": [[1, 2]], "parameters": {"predict_proba": True}, "extra": "kept"}
    assert v1.decode(orjson.dumps(body)) == body
    assert v1.decode(b'{"inputs": {"a": [1]}}') == {"inputs": {"a": [1]}}
    assert v1.decode(b"{}") == {}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"\xff",
        b"[]",
        b"[1, 2]",
        b"3",
        b'"x"',
        b"null",
        b"true",
        b'{"instances": 3}',
        b'{"instances": "rows"}',
        b'{"instances": null}',
        b'{"inputs": 1.5}',
    ],
)
def test_v1_decode_refuses_what_is_not_a_v1_body(body: bytes) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        v1.decode(body)
    assert caught.value.message


def test_v1_encode_wraps_arrays_and_passes_dicts_through() -> None:
    assert orjson.loads(v1.encode({"predictions": [1], "other": "x"})) == {
        "predictions": [1],
        "other": "x",
    }
    assert orjson.loads(v1.encode([1, 2])) == {"predictions": [1, 2]}
    assert orjson.loads(v1.encode(np.array([[0.5, 1.5]], dtype=np.float32))) == {
        "predictions": [[0.5, 1.5]]
    }
    assert orjson.loads(v1.encode(np.int64(3))) == {"predictions": 3}
    assert orjson.loads(v1.encode([b"caf\xc3\xa9", (1, 2)])) == {
        "predictions": ["caf\u00e9", [1, 2]]
    }


def test_v1_encode_turns_an_infer_response_into_predictions() -> None:
    one = response_of(InferOutput("out", [2], "INT64", np.array([0, 2])))
    assert orjson.loads(v1.encode(one)) == {"predictions": [0, 2]}
    two = response_of(
        InferOutput("label", [2], "INT64", np.array([0, 2])),
        InferOutput("name", [2], "BYTES", np.array([b"a", b"b"], dtype=object)),
    )
    assert orjson.loads(v1.encode(two)) == {"predictions": {"label": [0, 2], "name": ["a", "b"]}}


def test_v1_encode_of_something_json_cannot_carry_is_the_models_fault() -> None:
    with pytest.raises(errors.InferenceError):
        v1.encode({"predictions": object()})


def test_v1_model_listings() -> None:
    assert orjson.loads(v1.models_list(["a", "b"])) == {"models": ["a", "b"]}
    assert orjson.loads(v1.model_status("a", False)) == {"name": "a", "ready": False}


# --- V2 JSON -----------------------------------------------------------------------------------


def test_v2_decode_json_request() -> None:
    body = orjson.dumps(
        {
            "id": "req-1",
            "parameters": {"predict_proba": True, "n": 2},
            "inputs": [
                {
                    "name": "x",
                    "shape": [2, 2],
                    "datatype": "FP32",
                    "data": [1, 2, 3, 4],
                    "parameters": {"content_type": "np"},
                },
                {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["h\u00e9", "b"]},
                {"name": "nested", "shape": [2, 1], "datatype": "INT8", "data": [[1], [2]]},
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
        }
    )
    request = v2.decode_request(body, "m", "3")
    assert (request.model_name, request.model_version, request.id) == ("m", "3", "req-1")
    assert request.parameters == {"predict_proba": True, "n": 2}
    x, s, nested = request.inputs
    assert_same(x.as_numpy(), np.array([[1, 2], [3, 4]], dtype=np.float32))
    assert x.parameters == {"content_type": "np"}
    assert_same(s.as_numpy(), np.array(["h\u00e9".encode(), b"b"], dtype=object))
    assert_same(nested.as_numpy(), np.array([[1], [2]], dtype=np.int8))
    assert [(o.name, o.parameters) for o in request.request_outputs] == [
        ("y", {"binary_data": True}),
        ("z", {}),
    ]


def test_v2_decode_minimal_request_has_defaults() -> None:
    request = v2.decode_request(
        b'{"inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}]}', "m"
    )
    assert request.id is None and request.model_version is None
    assert request.parameters == {} and request.request_outputs == []
    assert request.inputs[0].as_numpy().shape == (0,)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "BYTES"])
def test_v2_json_data_of_every_numeric_datatype(datatype: str) -> None:
    array = SAMPLES[datatype]
    if datatype.startswith("FP"):
        array = np.nan_to_num(array, nan=1.0, posinf=2.0, neginf=-2.0)  # JSON has no nan/inf
    spec = {"name": "x", "shape": [2, 3], "datatype": datatype, "data": array.reshape(-1).tolist()}
    request = v2.decode_request(orjson.dumps({"inputs": [spec]}), "m")
    assert_same(request.inputs[0].as_numpy(), array)


def _tensor(**fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}
    spec.update(fields)
    return {key: value for key, value in spec.items() if value is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        pytest.param({}, errors.InvalidInput, id="no-inputs"),
        pytest.param({"inputs": []}, errors.InvalidInput, id="empty-inputs"),
        pytest.param({"inputs": {"name": "x"}}, errors.InvalidInput, id="inputs-a-dict"),
        pytest.param({"inputs": ["x"]}, errors.InvalidInput, id="input-a-string"),
        pytest.param({"inputs": [_tensor(name=_DROP)]}, errors.InvalidInput, id="no-name"),
        pytest.param({"inputs": [_tensor(name="")]}, errors.InvalidInput, id="empty-name"),
        pytest.param({"inputs": [_tensor(name=3)]}, errors.InvalidInput, id="name-a-number"),
        pytest.param({"inputs": [_tensor(shape=_DROP)]}, errors.InvalidInput, id="no-shape"),
        pytest.param({"inputs": [_tensor(shape="1,2")]}, errors.InvalidInput, id="shape-a-str"),
        pytest.param({"inputs": [_tensor(shape=[-1, 2])]}, errors.InvalidInput, id="negative"),
        pytest.param({"inputs": [_tensor(shape=[0.5, 4])]}, errors.InvalidInput, id="float-dim"),
        pytest.param({"inputs": [_tensor(shape=[1.0, 2])]}, errors.InvalidInput, id="1.0-dim"),
        pytest.param({"inputs": [_tensor(shape=[True, 2])]}, errors.InvalidInput, id="bool-dim"),
        pytest.param({"inputs": [_tensor(shape=[None, 2])]}, errors.InvalidInput, id="null-dim"),
        pytest.param({"inputs": [_tensor(data=[1])]}, errors.InvalidInput, id="too-little-data"),
        pytest.param({"inputs": [_tensor(data=[1, 2, 3])]}, errors.InvalidInput, id="too-much"),
        pytest.param({"inputs": [_tensor(data=[[1], [2, 3]])]}, errors.InvalidInput, id="ragged"),
        pytest.param({"inputs": [_tensor(data=["a", "b"])]}, errors.InvalidInput, id="strings"),
        pytest.param({"inputs": [_tensor(data={"a": 1})]}, errors.InvalidInput, id="data-dict"),
        pytest.param({"inputs": [_tensor(data=None)]}, errors.InvalidInput, id="data-null"),
        pytest.param({"inputs": [_tensor(data=_DROP)]}, errors.InvalidInput, id="no-data"),
        pytest.param(
            {"inputs": [_tensor(datatype="INT8", data=[1, 300])]},
            errors.InvalidInput,
            id="int8-overflow",
        ),
        pytest.param(
            {"inputs": [_tensor(datatype="BYTES", data=[1, 2])]},
            errors.InvalidInput,
            id="bytes-numbers",
        ),
        pytest.param(
            {"inputs": [_tensor(datatype="FP128")]}, errors.UnsupportedDatatype, id="fp128"
        ),
        pytest.param(
            {"inputs": [_tensor(datatype="fp32")]}, errors.UnsupportedDatatype, id="lowercase"
        ),
        pytest.param(
            {"inputs": [_tensor(datatype=_DROP)]}, errors.UnsupportedDatatype, id="no-datatype"
        ),
        pytest.param(
            {"inputs": [_tensor(datatype=["FP32"])]}, errors.UnsupportedDatatype, id="dt-list"
        ),
        pytest.param(
            {"inputs": [_tensor(parameters=[1])]}, errors.InvalidInput, id="input-params-list"
        ),
        pytest.param(
            {"inputs": [_tensor()], "parameters": "x"}, errors.InvalidInput, id="params-str"
        ),
        pytest.param({"inputs": [_tensor()], "id": 1}, errors.InvalidInput, id="id-number"),
        pytest.param({"inputs": [_tensor()], "outputs": {}}, errors.InvalidInput, id="out-dict"),
        pytest.param({"inputs": [_tensor()], "outputs": ["y"]}, errors.InvalidInput, id="out-str"),
        pytest.param(
            {"inputs": [_tensor()], "outputs": [{"name": 1}]}, errors.InvalidInput, id="out-name"
        ),
        pytest.param(
            {"inputs": [_tensor()], "outputs": [{"name": "y", "parameters": 1}]},
            errors.InvalidInput,
            id="out-params",
        ),
    ],
)
def test_v2_decode_refuses_malformed_json_requests(
    doc: dict[str, Any], error: type[errors.InvalidInput]
) -> None:
    with pytest.raises(error) as caught:
        v2.decode_request(orjson.dumps(doc), "m")
    assert caught.value.message


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"3", b'"x"', b"null", b"\xff\xfe"])
def test_v2_decode_refuses_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(errors.InvalidInput):
        v2.decode_request(body, "m")


def test_unsupported_datatype_is_a_kind_of_invalid_input() -> None:
    assert issubclass(errors.UnsupportedDatatype, errors.InvalidInput)


# --- V2 binary extension: requests -------------------------------------------------------------


@pytest.mark.parametrize("datatype", DATATYPES)
def test_v2_binary_input_round_trip(datatype: str) -> None:
    array = SAMPLES[datatype]
    body, header_length = binary_request([("x", datatype, array)])
    request = v2.decode_request(body, "m", header_length=header_length)
    tensor = request.inputs[0]
    assert tensor.datatype == datatype and tensor.shape == [2, 3]
    assert "binary_data_size" not in tensor.parameters
    assert_same(tensor.as_numpy(), array)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "BYTES"])
def test_v2_binary_inputs_are_views_of_the_body(datatype: str) -> None:
    body, header_length = binary_request([("x", datatype, SAMPLES[datatype])])
    array = v2.decode_request(body, "m", header_length=header_length).inputs[0].as_numpy()
    assert np.shares_memory(array, np.frombuffer(body, dtype=np.uint8))


def test_v2_binary_and_json_inputs_mix_in_order() -> None:
    a, b = SAMPLES["FP32"], SAMPLES["BYTES"]
    body, _ = binary_request([("a", "FP32", a), ("b", "BYTES", b)])
    header = orjson.loads(body[: body.index(b"}]}") + 3])
    json_tensor = {"name": "j", "shape": [2], "datatype": "INT32", "data": [7, 8]}
    header["inputs"].insert(1, json_tensor)
    new_header = orjson.dumps(header)
    blobs = blob_of("FP32", a) + blob_of("BYTES", b)
    request = v2.decode_request(new_header + blobs, "m", header_length=len(new_header))
    assert [tensor.name for tensor in request.inputs] == ["a", "j", "b"]
    assert_same(request.inputs[0].as_numpy(), a)
    assert_same(request.inputs[1].as_numpy(), np.array([7, 8], dtype=np.int32))
    assert_same(request.inputs[2].as_numpy(), b)


def test_v2_header_length_equal_to_the_body_means_no_binary_part() -> None:
    body = orjson.dumps({"inputs": [_tensor()]})
    request = v2.decode_request(body, "m", header_length=len(body))
    assert_same(request.inputs[0].as_numpy(), np.array([[1, 2]], dtype=np.float32))


def _binary_spec(size: Any, datatype: str = "FP32", shape: list[int] | None = None) -> bytes:
    spec = {
        "name": "x",
        "datatype": datatype,
        "shape": [1, 2] if shape is None else shape,
        "parameters": {"binary_data_size": size},
    }
    return orjson.dumps({"inputs": [spec]})


_TWO_FP32 = np.array([1, 2], dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("header", "blob", "header_length", "fragment"),
    [
        pytest.param(_binary_spec(4), _TWO_FP32[:4], None, "needs 8 bytes", id="size-vs-shape"),
        pytest.param(_binary_spec(8), _TWO_FP32[:4], None, "remain", id="size-past-body"),
        pytest.param(_binary_spec(8), _TWO_FP32 + b"\0", None, "no input claims", id="leftover"),
        pytest.param(_binary_spec(-8), _TWO_FP32, None, "non-negative", id="negative-size"),
        pytest.param(_binary_spec("8"), _TWO_FP32, None, "non-negative", id="size-a-string"),
        pytest.param(_binary_spec(8.0), _TWO_FP32, None, "non-negative", id="size-a-float"),
        pytest.param(_binary_spec(True), _TWO_FP32, None, "non-negative", id="size-a-bool"),
        pytest.param(_binary_spec(8), _TWO_FP32, 10_000, "body has", id="header-past-body"),
        pytest.param(_binary_spec(8), _TWO_FP32, -1, "body has", id="header-negative"),
        pytest.param(_binary_spec(8), _TWO_FP32, 5, "not valid JSON", id="header-cut-short"),
        pytest.param(
            _binary_spec(2, "BYTES", [1]), b"\x01\x00", None, "truncated", id="bytes-prefix"
        ),
        pytest.param(
            _binary_spec(6, "BYTES", [1]),
            struct.pack("<I", 5) + b"ab",
            None,
            "runs past",
            id="bytes-element-past-data",
        ),
        pytest.param(
            _binary_spec(6, "BYTES", [2]),
            struct.pack("<I", 2) + b"ab",
            None,
            "1 BYTES elements",
            id="bytes-count",
        ),
        pytest.param(
            _binary_spec(8, "BF16"), _TWO_FP32, None, "unknown datatype", id="unknown-datatype"
        ),
        pytest.param(
            _binary_spec(8, shape=[-1, 2]), _TWO_FP32, None, "non-negative", id="negative-dim"
        ),
    ],
)
def test_v2_decode_refuses_malformed_binary_requests(
    header: bytes, blob: bytes, header_length: int | None, fragment: str
) -> None:
    length = len(header) if header_length is None else header_length
    with pytest.raises(errors.InvalidInput) as caught:
        v2.decode_request(header + blob, "m", header_length=length)
    assert fragment in caught.value.message


def test_v2_binary_data_without_header_length_is_not_json() -> None:
    with pytest.raises(errors.InvalidInput):
        v2.decode_request(_binary_spec(8) + _TWO_FP32, "m")


def test_pack_bytes_prefixes_each_element_with_its_length() -> None:
    packed = v2.pack_bytes(np.array([[b"ab"], ["\u00e9"]], dtype=object))
    assert packed == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 2) + "\u00e9".encode()
    assert v2.pack_bytes(np.array([], dtype=object)) == b""


# --- V2 responses ------------------------------------------------------------------------------


def test_v2_encode_json_response() -> None:
    response = response_of(
        InferOutput("y", [2, 2], "FP32", np.array([[1, 2], [3, 4]], dtype=np.float32)),
        InferOutput("s", [2], "BYTES", np.array([b"a", "h\u00e9".encode()], dtype=object)),
        InferOutput("p", [1], "INT64", [5], parameters={"unit": "cm"}),
        response_id="r1",
        model_version="2",
        parameters={"took": 1},
    )
    body, json_length = v2.encode_response(response)
    assert json_length is None
    assert orjson.loads(body) == {
        "model_name": "m",
        "model_version": "2",
        "id": "r1",
        "parameters": {"took": 1},
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]},
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "h\u00e9"]},
            {
                "name": "p",
                "datatype": "INT64",
                "shape": [1],
                "data": [5],
                "parameters": {"unit": "cm"},
            },
        ],
    }


def test_v2_encode_leaves_out_absent_optional_fields() -> None:
    body, _ = v2.encode_response(response_of(output("INT8")))
    assert set(orjson.loads(body)) == {"model_name", "outputs"}


def _request(binary_data_output: bool | None = None, **per_output: bool) -> InferRequest:
    parameters = {} if binary_data_output is None else {"binary_data_output": binary_data_output}
    outputs = [RequestedOutput(name, {"binary_data": value}) for name, value in per_output.items()]
    return InferRequest("m", [], parameters=parameters, request_outputs=outputs)


@pytest.mark.parametrize("datatype", DATATYPES)
def test_v2_binary_output_round_trip(datatype: str) -> None:
    body, json_length = v2.encode_response(response_of(output(datatype)), _request(True))
    assert json_length is not None
    header = orjson.loads(body[:json_length])
    (spec,) = header["outputs"]
    assert "data" not in spec
    assert spec["parameters"] == {"binary_data_size": len(body) - json_length}
    assert body[json_length:] == blob_of(datatype, SAMPLES[datatype])
    assert_same(split_response(body, json_length)[datatype.lower()], SAMPLES[datatype])


def test_v2_binary_data_output_sends_every_output_binary_in_order() -> None:
    outputs = [output(datatype) for datatype in DATATYPES]
    body, json_length = v2.encode_response(response_of(*outputs), _request(True))
    decoded = split_response(body, json_length)
    for datatype in DATATYPES:
        assert_same(decoded[datatype.lower()], SAMPLES[datatype])


def test_v2_per_output_binary_data_overrides_the_default() -> None:
    outputs = [output("FP16"), output("BYTES"), output("INT32")]
    body, json_length = v2.encode_response(response_of(*outputs), _request(fp16=True))
    assert json_length is not None
    specs = {spec["name"]: spec for spec in orjson.loads(body[:json_length])["outputs"]}
    assert "data" not in specs["fp16"] and "data" in specs["bytes"] and "data" in specs["int32"]
    assert body[json_length:] == blob_of("FP16", SAMPLES["FP16"])

    body, json_length = v2.encode_response(
        response_of(*outputs), _request(True, bytes=False, int32=False)
    )
    assert json_length is not None
    specs = {spec["name"]: spec for spec in orjson.loads(body[:json_length])["outputs"]}
    assert specs["bytes"]["data"] == ["", "abc", "h\u00e9llo", "\x00\ufffd", "x", "yz"]
    assert specs["int32"]["data"] == SAMPLES["INT32"].reshape(-1).tolist()
    assert "data" not in specs["fp16"]
    decoded = split_response(body, json_length)
    assert_same(decoded["fp16"], SAMPLES["FP16"])


def test_v2_binary_data_false_everywhere_is_plain_json() -> None:
    body, json_length = v2.encode_response(response_of(output("INT8")), _request(False, int8=False))
    assert json_length is None
    assert orjson.loads(body)["outputs"][0]["data"] == SAMPLES["INT8"].reshape(-1).tolist()


def test_v2_output_binary_data_parameter_never_reaches_the_client() -> None:
    tensor = output("UINT8")
    tensor.parameters = {"binary_data": True, "unit": "px"}
    body, json_length = v2.encode_response(response_of(tensor))
    assert json_length is None
    assert orjson.loads(body)["outputs"][0]["parameters"] == {"unit": "px"}


def test_v2_binary_output_is_little_endian_and_c_ordered() -> None:
    big = np.array([[1.5, -2.0, 3.25]], dtype=">f4")
    transposed = np.arange(6, dtype=np.int16).reshape(2, 3).T  # not C-contiguous
    outputs = [
        InferOutput("big", [1, 3], "FP32", big),
        InferOutput("t", [3, 2], "INT16", transposed),
    ]
    body, json_length = v2.encode_response(response_of(*outputs), _request(True))
    assert json_length is not None
    expected = (
        big.astype("<f4").tobytes() + np.ascontiguousarray(transposed).astype("<i2").tobytes()
    )
    assert body[json_length:] == expected


# --- the error table ---------------------------------------------------------------------------

EXPECTED_TABLE = {
    errors.PayloadTooLarge: (413, "RESOURCE_EXHAUSTED"),
    errors.UnsupportedDatatype: (400, "INVALID_ARGUMENT"),
    errors.UnsupportedEncoding: (415, "INVALID_ARGUMENT"),
    errors.InvalidInput: (400, "INVALID_ARGUMENT"),
    errors.ContextLengthExceeded: (400, "INVALID_ARGUMENT"),
    errors.ModelNotFound: (404, "NOT_FOUND"),
    errors.ModelUnloaded: (404, "NOT_FOUND"),
    errors.ModelNotReady: (503, "UNAVAILABLE"),
    errors.ServerUnavailable: (503, "UNAVAILABLE"),
    errors.NotSupported: (501, "UNIMPLEMENTED"),
    errors.StorageNotFound: (404, "NOT_FOUND"),
    errors.ModelLoadError: (400, "FAILED_PRECONDITION"),
    errors.StorageError: (400, "FAILED_PRECONDITION"),
    errors.UnsafeArchive: (400, "FAILED_PRECONDITION"),
    errors.InferenceError: (500, "INTERNAL"),
    errors.PortUnavailable: (500, "INTERNAL"),  # a start-up failure, never on the wire
    errors.ModelplaneError: (500, "INTERNAL"),
}


def _bare(cls: type[BaseException]) -> BaseException:
    """An instance without running `__init__`: only the class matters to the table."""
    return cls.__new__(cls)


@pytest.mark.parametrize("cls", list(EXPECTED_TABLE), ids=lambda cls: cls.__name__)
def test_every_error_class_has_its_status(cls: type[errors.ModelplaneError]) -> None:
    status = wire_errors.status_of(_bare(cls))
    assert (status.http, status.grpc) == EXPECTED_TABLE[cls]


def test_every_error_class_of_the_tree_is_in_the_expectations() -> None:
    tree = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.ModelplaneError)
    }
    assert tree == set(EXPECTED_TABLE)


def test_the_table_names_real_grpc_codes_and_error_statuses() -> None:
    for cls, status in wire_errors.TABLE.items():
        assert isinstance(grpc.StatusCode[status.grpc], grpc.StatusCode), cls
        assert 400 <= status.http <= 599, cls
        assert wire_errors.status_of(_bare(cls)) == status, f"{cls.__name__} is shadowed"


def test_subclasses_take_their_nearest_listed_ancestors_status() -> None:
    class TooManyRows(errors.InvalidInput):
        pass

    class Big(errors.PayloadTooLarge):
        pass

    assert wire_errors.status_of(TooManyRows("x")) == wire_errors.Status(400, "INVALID_ARGUMENT")
    assert wire_errors.status_of(Big("x")) == wire_errors.Status(413, "RESOURCE_EXHAUSTED")


@pytest.mark.parametrize("exc", [ValueError("v"), KeyError("k"), RuntimeError(), Exception()])
def test_anything_outside_the_tree_is_internal(exc: BaseException) -> None:
    assert wire_errors.status_of(exc) == wire_errors.UNEXPECTED == (500, "INTERNAL")


def test_messages_are_ours_verbatim_and_generic_for_the_unexpected() -> None:
    assert wire_errors.message_of(errors.InvalidInput("shape is wrong")) == "shape is wrong"
    not_found = wire_errors.message_of(errors.ModelNotFound("m", "2"))
    assert "version '2' of model 'm'" in not_found
    assert wire_errors.message_of(ValueError("boom")) == "internal error: ValueError: boom"


def test_error_body_is_a_json_object_with_one_error_string() -> None:
    message = 'quote " and \u00e9 and \n newline'
    assert orjson.loads(wire_errors.error_body(message)) == {"error": message}


# --- agreement with the gRPC codec ---------------------------------------------------------------


def test_v2_binary_bool_bytes_must_be_0_or_1_as_over_grpc() -> None:
    header = _binary_spec(3, "BOOL", [3])
    with pytest.raises(errors.InvalidInput):
        v2.decode_request(header + b"\x00\x01\x02", "m", header_length=len(header))


def test_v2_refuses_an_input_name_given_twice_as_grpc_does() -> None:
    with pytest.raises(errors.InvalidInput):
        v2.decode_request(orjson.dumps({"inputs": [_tensor(), _tensor()]}), "m")
