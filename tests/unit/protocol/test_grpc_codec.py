"""The gRPC codec: core objects survive the wire, bad tensors are refused by name, and the
messages are byte-compatible with tritonclient's and kserve's own classes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors, inference
from modelplane.protocol import grpc_codec
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from tests.support.samples import SAMPLES


def tensor(name: str, datatype: str, array: np.ndarray[Any, Any]) -> inference.InferInput:
    return inference.InferInput(name, list(array.shape), datatype, array)


def wire(message: Any) -> Any:
    """The message after a trip through bytes, as a peer would receive it."""
    return type(message).FromString(message.SerializeToString())


def assert_same(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.dtype == object
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_request_round_trip_keeps_every_datatype(datatype: str, raw: bool) -> None:
    sample = SAMPLES[datatype]
    request = inference.InferRequest("m", [tensor("x", datatype, sample)], request_id="r1")

    message = wire(grpc_codec.encode_infer_request(request, raw=raw))
    decoded = grpc_codec.decode_infer_request(message)

    # FP16 has no typed list, so it goes raw whatever was asked.
    assert bool(message.raw_input_contents) == (raw or datatype == "FP16")
    assert decoded.model_name == "m" and decoded.id == "r1"
    (x,) = decoded.inputs
    assert (x.name, x.datatype, x.shape) == ("x", datatype, [2, 3])
    assert_same(x.as_numpy(), sample)


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_response_round_trip_keeps_every_datatype(datatype: str, raw: bool) -> None:
    sample = SAMPLES[datatype]
    output = inference.InferOutput("y", list(sample.shape), datatype, sample)
    response = inference.InferResponse("r1", "m", [output], model_version="3")

    message = wire(grpc_codec.encode_infer_response(response, raw=raw))
    decoded = grpc_codec.decode_infer_response(message)

    assert bool(message.raw_output_contents) == (raw or datatype == "FP16")
    assert message.outputs[0].HasField("contents") != bool(message.raw_output_contents)
    assert (decoded.id, decoded.model_name, decoded.model_version) == ("r1", "m", "3")
    assert_same(decoded.outputs[0].as_numpy(), sample)


def test_several_inputs_keep_their_order_names_and_parameters() -> None:
    inputs = [
        tensor("a", "FP32", SAMPLES["FP32"]),
        tensor("b", "BYTES", SAMPLES["BYTES"]),
        tensor("c", "INT8", SAMPLES["INT8"]),
    ]
    inputs[1].parameters = {"content_type": "str"}
    request = inference.InferRequest("m", inputs, model_version="2")

    for raw in (True, False):
        decoded = grpc_codec.decode_infer_request(
            wire(grpc_codec.encode_infer_request(request, raw=raw))
        )
        assert [t.name for t in decoded.inputs] == ["a", "b", "c"]
        assert decoded.inputs[1].parameters == {"content_type": "str"}
        assert decoded.model_version == "2"
        for original, got in zip(inputs, decoded.inputs, strict=True):
            assert_same(got.as_numpy(), original.as_numpy())


def test_raw_inputs_decode_as_read_only_views_not_copies() -> None:
    request = inference.InferRequest("m", [tensor("x", "FP32", SAMPLES["FP32"])])
    decoded = grpc_codec.decode_infer_request(grpc_codec.encode_infer_request(request))
    array = decoded.inputs[0].as_numpy()
    assert not array.flags.writeable
    assert not array.flags.owndata


def test_list_data_is_encoded_like_arrays() -> None:
    x = inference.InferInput("x", [2, 2], "INT32", [[1, 2], [3, 4]])
    words = inference.InferInput("w", [2], "BYTES", ["hi", "there"])
    request = inference.InferRequest("m", [x, words])
    decoded = grpc_codec.decode_infer_request(grpc_codec.encode_infer_request(request, raw=False))
    assert decoded.inputs[0].as_numpy().tolist() == [[1, 2], [3, 4]]
    assert decoded.inputs[1].as_string() == ["hi", "there"]


def test_empty_id_and_version_become_none() -> None:
    decoded = grpc_codec.decode_infer_request(pb.ModelInferRequest(model_name="m"))
    assert decoded.id is None and decoded.model_version is None
    assert decoded.inputs == [] and decoded.request_outputs == []


def test_requested_outputs_survive_with_their_parameters() -> None:
    request = inference.InferRequest(
        "m",
        [tensor("x", "FP64", SAMPLES["FP64"])],
        request_outputs=[
            inference.RequestedOutput("probabilities", {"binary_data": False}),
            inference.RequestedOutput("label"),
        ],
    )
    decoded = grpc_codec.decode_infer_request(wire(grpc_codec.encode_infer_request(request)))
    assert [(o.name, o.parameters) for o in decoded.request_outputs] == [
        ("probabilities", {"binary_data": False}),
        ("label", {}),
    ]


def test_zero_element_tensors_need_no_data() -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    for raw in (True, False):
        request = inference.InferRequest("m", [tensor("x", "FP32", empty)])
        decoded = grpc_codec.decode_infer_request(grpc_codec.encode_infer_request(request, raw=raw))
        assert decoded.inputs[0].as_numpy().shape == (0, 3)


# --- parameters ------------------------------------------------------------------------------

PARAMETERS: dict[str, Any] = {
    "flag": True,
    "count": -3,
    "big": 2**64 - 1,
    "ratio": 0.25,
    "name": "tree",
}


def test_parameters_round_trip_with_the_right_oneof() -> None:
    encoded = grpc_codec.encode_parameters(PARAMETERS)
    assert {key: p.WhichOneof("parameter_choice") for key, p in encoded.items()} == {
        "flag": "bool_param",
        "count": "int64_param",
        "big": "uint64_param",
        "ratio": "double_param",
        "name": "string_param",
    }
    assert grpc_codec.decode_parameters(encoded) == PARAMETERS


def test_parameters_at_every_level_survive_the_wire() -> None:
    x = tensor("x", "INT64", SAMPLES["INT64"])
    x.parameters = {"scale": 2.0}
    request = inference.InferRequest("m", [x], parameters=PARAMETERS)
    decoded = grpc_codec.decode_infer_request(wire(grpc_codec.encode_infer_request(request)))
    assert decoded.parameters == PARAMETERS
    assert decoded.inputs[0].parameters == {"scale": 2.0}

    response = inference.InferResponse("r", "m", [], parameters={"took_ms": 3})
    message = wire(grpc_codec.encode_infer_response(response, raw=False))
    assert grpc_codec.decode_infer_response(message).parameters == {"took_ms": 3}


def test_numpy_scalars_are_plain_parameters_and_none_is_left_out() -> None:
    encoded = grpc_codec.encode_parameters(
        {"i": np.int32(4), "f": np.float32(0.5), "b": np.bool_(True), "gone": None}
    )
    assert grpc_codec.decode_parameters(encoded) == {"i": 4, "f": 0.5, "b": True}


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, b"raw", 2**64, -(2**63) - 1])
def test_parameters_grpc_cannot_carry_are_refused(value: object) -> None:
    with pytest.raises(errors.InvalidInput, match="parameter 'p'"):
        grpc_codec.encode_parameters({"p": value})


def test_a_parameter_without_a_value_is_refused() -> None:
    message = pb.ModelInferRequest(model_name="m", parameters={"p": pb.InferParameter()})
    with pytest.raises(errors.InvalidInput, match="parameter 'p' has no value"):
        grpc_codec.decode_infer_request(message)


# --- bad input -------------------------------------------------------------------------------


def typed_request(*inputs: pb.ModelInferRequest.InferInputTensor) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(model_name="m", inputs=list(inputs))


def input_tensor(
    datatype: str, shape: list[int], **contents: Any
) -> pb.ModelInferRequest.InferInputTensor:
    return pb.ModelInferRequest.InferInputTensor(
        name="x",
        datatype=datatype,
        shape=shape,
        contents=pb.InferTensorContents(**contents) if contents else None,
    )


BAD_REQUESTS: dict[str, tuple[pb.ModelInferRequest, str]] = {
    "too few typed elements": (
        typed_request(input_tensor("FP32", [2, 2], fp32_contents=[1, 2, 3])),
        r"input 'x' has 3 elements in fp32_contents but shape \[2, 2\] needs 4",
    ),
    "too many typed elements": (
        typed_request(input_tensor("INT64", [1], int64_contents=[1, 2])),
        "input 'x' has 2 elements",
    ),
    "no data for a non-empty shape": (
        typed_request(input_tensor("INT32", [3])),
        "input 'x' has 0 elements",
    ),
    "data in the wrong list": (
        typed_request(input_tensor("FP32", [2], int_contents=[1, 2])),
        "input 'x' is FP32, whose data goes in fp32_contents, but it sets int_contents",
    ),
    "data in two lists": (
        typed_request(input_tensor("INT32", [1], int_contents=[1], fp64_contents=[1.0])),
        "it sets fp64_contents",
    ),
    "FP16 in typed contents": (
        typed_request(input_tensor("FP16", [1], fp32_contents=[1.0])),
        "input 'x' is FP16, which has no typed contents",
    ),
    "a value too wide for INT8": (
        typed_request(input_tensor("INT8", [2], int_contents=[1, 300])),
        "input 'x': a value does not fit INT8",
    ),
    "a value too wide for UINT16": (
        typed_request(input_tensor("UINT16", [1], uint_contents=[70000])),
        "input 'x': a value does not fit UINT16",
    ),
    "a negative dimension": (
        typed_request(input_tensor("FP32", [-1, 2], fp32_contents=[1, 2])),
        r"input 'x': shape \[-1, 2\] is invalid",
    ),
    "an input without a name": (
        pb.ModelInferRequest(inputs=[pb.ModelInferRequest.InferInputTensor(datatype="FP32")]),
        "input 0 has no name",
    ),
    "the same input twice": (
        typed_request(input_tensor("FP32", [0]), input_tensor("FP32", [0])),
        "input 'x' appears twice",
    ),
    "fewer raw entries than inputs": (
        pb.ModelInferRequest(
            inputs=[input_tensor("UINT8", [1]), input_tensor("UINT8", [1])],
            raw_input_contents=[b"\x01"],
        ),
        "1 raw_input_contents entries for 2 inputs",
    ),
    "both contents and raw": (
        pb.ModelInferRequest(
            inputs=[input_tensor("UINT8", [1], uint_contents=[1])],
            raw_input_contents=[b"\x01"],
        ),
        "input 'x' sets contents while raw_input_contents is used",
    ),
    "raw bytes short of the shape": (
        pb.ModelInferRequest(
            inputs=[input_tensor("FP32", [2, 2])], raw_input_contents=[b"\x00" * 12]
        ),
        r"input 'x' has 12 bytes of raw data but a FP32 tensor of shape \[2, 2\] needs 16",
    ),
    "raw bytes beyond the shape": (
        pb.ModelInferRequest(inputs=[input_tensor("INT16", [1])], raw_input_contents=[b"abc"]),
        "input 'x' has 3 bytes of raw data",
    ),
    "raw BOOL that is not 0 or 1": (
        pb.ModelInferRequest(inputs=[input_tensor("BOOL", [2])], raw_input_contents=[b"\x01\x02"]),
        "input 'x': raw BOOL bytes must each be 0 or 1",
    ),
    "raw BYTES cut inside a length": (
        pb.ModelInferRequest(
            inputs=[input_tensor("BYTES", [2])], raw_input_contents=[b"\x01\x00\x00\x00a\x01\x00"]
        ),
        "input 'x': raw BYTES data ends inside a length prefix",
    ),
    "raw BYTES element longer than the data": (
        pb.ModelInferRequest(
            inputs=[input_tensor("BYTES", [1])], raw_input_contents=[b"\x09\x00\x00\x00abc"]
        ),
        "input 'x': raw BYTES element 0 claims 9 bytes but only 3 remain",
    ),
    "raw BYTES with too few elements": (
        pb.ModelInferRequest(
            inputs=[input_tensor("BYTES", [3])], raw_input_contents=[b"\x01\x00\x00\x00a"]
        ),
        "input 'x' has 1 raw BYTES elements but its shape needs 3",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_raise_invalid_input_naming_the_problem(case: str) -> None:
    message, expected = BAD_REQUESTS[case]
    with pytest.raises(errors.InvalidInput, match=expected):
        grpc_codec.decode_infer_request(wire(message))


@pytest.mark.parametrize("raw", [[b"\x00"], []], ids=["raw", "typed"])
def test_unknown_datatypes_raise_unsupported_datatype(raw: list[bytes]) -> None:
    message = pb.ModelInferRequest(inputs=[input_tensor("COMPLEX64", [1])], raw_input_contents=raw)
    with pytest.raises(errors.UnsupportedDatatype, match="input 'x': unknown datatype 'COMPLEX64'"):
        grpc_codec.decode_infer_request(message)


# --- responses -------------------------------------------------------------------------------


def test_server_answers_raw_exactly_when_the_request_was_raw() -> None:
    raw_request = grpc_codec.encode_infer_request(
        inference.InferRequest("m", [tensor("x", "FP32", SAMPLES["FP32"])]), raw=True
    )
    typed_request = grpc_codec.encode_infer_request(
        inference.InferRequest("m", [tensor("x", "FP32", SAMPLES["FP32"])]), raw=False
    )
    assert grpc_codec.wants_raw_output(raw_request)
    assert not grpc_codec.wants_raw_output(typed_request)


def test_fp16_makes_every_output_raw_because_raw_entries_are_positional() -> None:
    outputs = [
        inference.InferOutput("a", [2], "FP32", np.array([1, 2], dtype=np.float32)),
        inference.InferOutput("h", [1], "FP16", np.array([0.5], dtype=np.float16)),
    ]
    message = grpc_codec.encode_infer_response(
        inference.InferResponse(None, "m", outputs), raw=False
    )
    assert len(message.raw_output_contents) == 2
    assert not message.outputs[0].HasField("contents")
    assert message.id == "" and message.model_version == ""


def test_output_arrays_are_cast_to_their_declared_datatype_within_a_kind() -> None:
    output = inference.InferOutput("y", [2], "FP32", np.array([0.5, 1.5]))  # float64 data
    message = grpc_codec.encode_infer_response(
        inference.InferResponse(None, "m", [output]), raw=True
    )
    assert_same(
        grpc_codec.decode_infer_response(message).outputs[0].as_numpy(),
        np.array([0.5, 1.5], dtype=np.float32),
    )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (inference.InferOutput("y", [2], "INT32", np.array([0.5, 1.5])), "declared INT32"),
        (inference.InferOutput("y", [3], "FP32", np.zeros(2, np.float32)), "holds 2 elements"),
        (inference.InferOutput("y", [1], "FP8", np.zeros(1, np.float32)), "unknown datatype"),
        (inference.InferOutput("y", [1], "BYTES", np.array([1.0], dtype=object)), "holds a float"),
    ],
)
def test_outputs_the_wire_cannot_carry_are_the_models_fault(
    output: inference.InferOutput, expected: str
) -> None:
    response = inference.InferResponse(None, "m", [output])
    for raw in (True, False):
        with pytest.raises(errors.InferenceError, match=f"model 'm'.*output 'y'.*{expected}"):
            grpc_codec.encode_infer_response(response, raw=raw)


# --- metadata and repository -----------------------------------------------------------------


def test_model_metadata_round_trips_the_rest_dict() -> None:
    metadata = {
        "name": "iris",
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}],
    }
    message = wire(grpc_codec.encode_model_metadata(metadata))
    assert message.inputs[0].shape == [-1, 4]
    assert grpc_codec.decode_model_metadata(message) == metadata


def test_model_metadata_tolerates_missing_optional_keys() -> None:
    message = grpc_codec.encode_model_metadata({"name": "m", "versions": None})
    assert grpc_codec.decode_model_metadata(message) == {
        "name": "m",
        "versions": [],
        "platform": "",
        "inputs": [],
        "outputs": [],
    }


def test_server_metadata_round_trips_the_rest_dict() -> None:
    metadata = {"name": "modelplane", "version": "0.1.0", "extensions": ["model_repository"]}
    message = wire(grpc_codec.encode_server_metadata(metadata))
    assert grpc_codec.decode_server_metadata(message) == metadata


def test_repository_index_round_trips() -> None:
    models = [
        {"name": "a", "version": "1", "state": "READY", "reason": ""},
        {"name": "b", "version": "", "state": "UNAVAILABLE", "reason": "load failed"},
    ]
    message = wire(grpc_codec.encode_repository_index(models))
    assert grpc_codec.decode_repository_index(message) == models


@pytest.mark.parametrize("kind", [pb.RepositoryModelLoadRequest, pb.RepositoryModelUnloadRequest])
def test_repository_model_name_reads_both_client_layouts(kind: Any) -> None:
    kserve_layout = kind(model_name="iris")
    triton_layout = kind(model_name="models", triton_model_name="iris")
    assert grpc_codec.repository_model_name(kserve_layout) == "iris"
    assert grpc_codec.repository_name(kserve_layout) is None
    assert grpc_codec.repository_model_name(triton_layout) == "iris"
    assert grpc_codec.repository_name(triton_layout) == "models"
    with pytest.raises(errors.InvalidInput, match="names no model"):
        grpc_codec.repository_model_name(kind())


def test_repository_parameters_decode_every_kind() -> None:
    request = pb.RepositoryModelLoadRequest(
        triton_model_name="m",
        parameters={
            "config": pb.ModelRepositoryParameter(string_param="{}"),
            "file:1/model.onnx": pb.ModelRepositoryParameter(bytes_param=b"\x00\x01"),
            "flag": pb.ModelRepositoryParameter(bool_param=True),
            "n": pb.ModelRepositoryParameter(int64_param=-2),
        },
    )
    assert grpc_codec.repository_parameters(wire(request)) == {
        "config": "{}",
        "file:1/model.onnx": b"\x00\x01",
        "flag": True,
        "n": -2,
    }


# --- the other clients' classes --------------------------------------------------------------


def test_tritonclient_messages_and_ours_share_a_process_and_a_wire_format() -> None:
    tritonclient_grpc = pytest.importorskip("tritonclient.grpc")
    from tritonclient.grpc import _utils, service_pb2

    # A request exactly as tritonclient builds it decodes with our codec.
    inputs = []
    for name in ("FP32", "BYTES", "FP16", "UINT64"):
        infer_input = tritonclient_grpc.InferInput(name.lower(), [2, 3], name)
        infer_input.set_data_from_numpy(SAMPLES[name])
        inputs.append(infer_input)
    theirs = _utils._get_inference_request(
        model_name="m",
        inputs=inputs,
        model_version="",
        request_id="t1",
        outputs=[tritonclient_grpc.InferRequestedOutput("fp32")],
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=7,
        timeout=None,
        parameters={"label": "x"},
    )
    decoded = grpc_codec.decode_infer_request(
        pb.ModelInferRequest.FromString(theirs.SerializeToString())
    )
    assert decoded.id == "t1"
    assert decoded.parameters == {"priority": 7, "label": "x"}
    assert [o.name for o in decoded.request_outputs] == ["fp32"]
    for name in ("FP32", "BYTES", "FP16", "UINT64"):
        got = decoded.get_input_by_name(name.lower())
        assert got is not None
        assert_same(got.as_numpy(), SAMPLES[name])

    # Our response reads with tritonclient's result class.
    outputs = [inference.InferOutput(n.lower(), [2, 3], n, SAMPLES[n]) for n in ("FP64", "BYTES")]
    ours = grpc_codec.encode_infer_response(
        inference.InferResponse("t1", "m", outputs), raw=grpc_codec.wants_raw_output(theirs)
    )
    result = tritonclient_grpc.InferResult(
        service_pb2.ModelInferResponse.FromString(ours.SerializeToString())
    )
    assert_same(result.as_numpy("fp64"), SAMPLES["FP64"])
    assert result.as_numpy("bytes").tolist() == SAMPLES["BYTES"].tolist()

    # Triton's repository layout names the model in field 2.
    load = service_pb2.RepositoryModelLoadRequest(model_name="iris")
    load.parameters["config"].string_param = '{"backend": "onnx"}'
    load.parameters["file:1/model.onnx"].bytes_param = b"onnx"
    ours_load = pb.RepositoryModelLoadRequest.FromString(load.SerializeToString())
    assert grpc_codec.repository_model_name(ours_load) == "iris"
    assert grpc_codec.repository_parameters(ours_load)["file:1/model.onnx"] == b"onnx"
    unload = service_pb2.RepositoryModelUnloadRequest(model_name="iris")
    unload.parameters["unload_dependents"].bool_param = True
    ours_unload = pb.RepositoryModelUnloadRequest.FromString(unload.SerializeToString())
    assert grpc_codec.repository_model_name(ours_unload) == "iris"

    # And the index call, both ways.
    index = grpc_codec.encode_repository_index([{"name": "iris", "version": "1", "state": "READY"}])
    parsed = service_pb2.RepositoryIndexResponse.FromString(index.SerializeToString())
    assert [(m.name, m.version, m.state) for m in parsed.models] == [("iris", "1", "READY")]
    index_request = service_pb2.RepositoryIndexRequest(repository_name="r", ready=True)
    ours_index = pb.RepositoryIndexRequest.FromString(index_request.SerializeToString())
    assert (ours_index.repository_name, ours_index.ready) == ("r", True)


# kserve's stubs register the same `inference.*` names in protobuf's default pool as
# tritonclient's, so the two cannot be imported into one process; this check runs apart.
KSERVE_CHECK = textwrap.dedent(
    """
    import numpy as np
    from modelplane.protocol import grpc_codec
    from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as kpb
    from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

    typed = InferInput("t", [2], "INT32", [5, -6])
    packed = InferInput("p", [2], "FP32")
    packed.set_data_from_numpy(np.array([0.5, 1.5], dtype=np.float32), binary_data=True)
    for inputs in ([typed], [packed]):
        theirs = InferRequest("m", inputs, request_id="k1", parameters={"a": 1}).to_grpc()
        decoded = grpc_codec.decode_infer_request(
            pb.ModelInferRequest.FromString(theirs.SerializeToString())
        )
        assert decoded.id == "k1" and decoded.parameters == {"a": 1}, decoded
        print(decoded.inputs[0].name, decoded.inputs[0].as_numpy().tolist())

    from modelplane.core import inference
    out = inference.InferOutput("y", [2], "INT64", np.array([3, 4]))
    for raw in (False, True):
        ours = grpc_codec.encode_infer_response(inference.InferResponse("k1", "m", [out]), raw=raw)
        back = InferResponse.from_grpc(kpb.ModelInferResponse.FromString(ours.SerializeToString()))
        print("raw" if raw else "typed", back.outputs[0].as_numpy().tolist())

    load = kpb.RepositoryModelLoadRequest(model_name="iris")
    parsed = pb.RepositoryModelLoadRequest.FromString(load.SerializeToString())
    print("load", grpc_codec.repository_model_name(parsed))
    answer = pb.RepositoryModelUnloadResponse(model_name="iris", isUnloaded=True)
    theirs = kpb.RepositoryModelUnloadResponse.FromString(answer.SerializeToString())
    print("unloaded", theirs.model_name, theirs.isUnloaded)
    """
)


def test_kserve_messages_and_ours_share_a_process_and_a_wire_format() -> None:
    if importlib.util.find_spec("kserve") is None:  # importing it here would load its stubs
        pytest.skip("kserve is not installed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    done = subprocess.run(
        [sys.executable, "-c", KSERVE_CHECK],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "t [5, -6]",
        "p [0.5, 1.5]",
        "typed [3, 4]",
        "raw [3, 4]",
        "load iris",
        "unloaded iris True",
    ]
