"""NVIDIA's `tritonclient` (HTTP and gRPC) against a real modelplane server.

These tests use the client exactly as a Triton user would: health, metadata, inference with
binary and JSON tensors, several inputs, output selection, request ids, every datatype, model
versions, the model repository extension and error codes.

This module imports tritonclient and never `kserve`: both register the same `inference.*` protobuf
names in protobuf's default pool, so they cannot share a process.
"""

from __future__ import annotations

import queue
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.integration.clients.triton import (
    Array,
    Clients,
    as_bytes,
    assert_status,
    grpc_input,
    http_input,
)
from tests.support.models import IRIS_ROWS
from tests.support.serving import RunningServer

IRIS = "sklearn-iris"
ROWS = np.array(IRIS_ROWS, dtype=np.float64)


# --- HTTP ------------------------------------------------------------------------------------


def test_http_health(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.http(iris_server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(IRIS)
    assert not client.is_model_ready("no-such-model")


def test_http_server_and_model_metadata(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.http(iris_server)
    server = client.get_server_metadata()
    model = client.get_model_metadata(IRIS)
    assert server["name"] == "modelplane"
    assert {"binary_tensor_data", "model_repository"} <= set(server["extensions"])
    assert model["name"] == IRIS
    assert model["platform"] == "sklearn"
    assert model["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert [output["name"] for output in model["outputs"]] == ["output-0", "predict_proba"]


def test_http_infer_binary_by_default(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    client = clients.http(iris_server)
    result = client.infer(IRIS, [http_input("input-0", ROWS)], request_id="rest-binary-1")
    response = result.get_response()
    assert response["id"] == "rest-binary-1"
    assert response["model_name"] == IRIS
    (output,) = response["outputs"]
    assert output["parameters"]["binary_data_size"] == ROWS.shape[0] * 8
    assert "data" not in output
    np.testing.assert_array_equal(result.as_numpy("output-0"), iris_estimator.predict(ROWS))


def test_http_infer_json_inputs_and_outputs(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    outputs = [
        httpclient.InferRequestedOutput("output-0", binary_data=False),
        httpclient.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    client = clients.http(iris_server)
    result = client.infer(IRIS, [http_input("input-0", ROWS, binary=False)], outputs=outputs)
    response = result.get_response()
    assert [output["name"] for output in response["outputs"]] == ["output-0", "predict_proba"]
    assert all("binary_data_size" not in out.get("parameters", {}) for out in response["outputs"])
    assert response["outputs"][0]["data"] == iris_estimator.predict(ROWS).tolist()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), iris_estimator.predict_proba(ROWS), rtol=0, atol=1e-12
    )


def test_http_mixed_binary_and_json_outputs(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([0.5, 0.25, -1.0], dtype=np.float32)
    outputs = [
        httpclient.InferRequestedOutput("sum", binary_data=True),
        httpclient.InferRequestedOutput("difference", binary_data=False),
    ]
    client = clients.http(custom_server)
    result = client.infer(
        "calculator", [http_input("a", a), http_input("b", b, binary=False)], outputs=outputs
    )
    by_name = {output["name"]: output for output in result.get_response()["outputs"]}
    assert by_name["sum"]["parameters"]["binary_data_size"] == 12
    assert by_name["difference"]["data"] == (a - b).tolist()
    np.testing.assert_array_equal(result.as_numpy("sum"), a + b)
    np.testing.assert_array_equal(result.as_numpy("difference"), a - b)


def test_http_selects_one_of_two_outputs(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([[1.0, 2.0]], dtype=np.float32)
    b = np.array([[10.0, 20.0]], dtype=np.float32)
    client = clients.http(custom_server)
    both = client.infer("calculator", [http_input("a", a), http_input("b", b)])
    one = client.infer(
        "calculator",
        [http_input("a", a), http_input("b", b)],
        outputs=[httpclient.InferRequestedOutput("difference")],
    )
    assert [out["name"] for out in both.get_response()["outputs"]] == ["sum", "difference"]
    assert [out["name"] for out in one.get_response()["outputs"]] == ["difference"]
    assert one.as_numpy("sum") is None
    np.testing.assert_array_equal(one.as_numpy("difference"), a - b)


def test_http_unknown_output_is_invalid(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([1.0], dtype=np.float32)
    client = clients.http(custom_server)
    with pytest.raises(InferenceServerException) as error:
        client.infer(
            "calculator",
            [http_input("a", a), http_input("b", a)],
            outputs=[httpclient.InferRequestedOutput("product")],
        )
    assert_status(error, 400)
    assert "product" in error.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_echo_every_datatype(
    clients: Clients,
    custom_server: RunningServer,
    echo_tensors: dict[str, tuple[str, Array]],
    binary: bool,
) -> None:
    inputs = [http_input(name, array, binary) for name, array in echo_tensors.values()]
    outputs = [
        httpclient.InferRequestedOutput(name, binary_data=binary) for name in _names(echo_tensors)
    ]
    client = clients.http(custom_server)
    result = client.infer("echo", inputs, outputs=outputs, request_id=f"echo-{binary}")
    response = result.get_response()
    assert response["id"] == f"echo-{binary}"
    declared = {out["name"]: (out["datatype"], out["shape"]) for out in response["outputs"]}
    for datatype, (name, array) in echo_tensors.items():
        assert declared[name] == (datatype, list(array.shape))
        _assert_echoed(result.as_numpy(name), array)


def _names(tensors: dict[str, tuple[str, Array]]) -> list[str]:
    return [name for name, _ in tensors.values()]


def _assert_echoed(actual: Array | None, expected: Array) -> None:
    assert actual is not None
    assert actual.shape == expected.shape
    if expected.dtype == np.object_:
        assert as_bytes(actual) == as_bytes(expected)
    else:
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)


def test_http_request_id_from_header(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([1.0], dtype=np.float32)
    result = clients.http(custom_server).infer(
        "calculator", [http_input("a", a), http_input("b", a)], headers={"x-request-id": "hdr-1"}
    )
    assert result.get_response()["id"] == "hdr-1"


def test_http_binary_bytes_are_not_decoded(clients: Clients, custom_server: RunningServer) -> None:
    raw = np.array([b"\xff\x00\xfe", b"", b"\x00"], dtype=np.object_)
    result = clients.http(custom_server).infer("echo", [http_input("raw", raw)])
    assert as_bytes(result.as_numpy("raw")) == as_bytes(raw)


def test_http_empty_tensor_round_trips(clients: Clients, custom_server: RunningServer) -> None:
    empty = np.zeros((2, 0), dtype=np.int32)
    result = clients.http(custom_server).infer(
        "echo",
        [http_input("empty", empty, binary=False)],
        outputs=[httpclient.InferRequestedOutput("empty", binary_data=False)],
    )
    (output,) = result.get_response()["outputs"]
    assert (output["datatype"], output["shape"], output["data"]) == ("INT32", [2, 0], [])


def test_http_predict_proba_parameter(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    result = clients.http(iris_server).infer(
        IRIS, [http_input("input-0", ROWS)], parameters={"predict_proba": True}
    )
    np.testing.assert_allclose(
        result.as_numpy("output-0"), iris_estimator.predict_proba(ROWS), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_http_compressed_request_and_response(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any, algorithm: str
) -> None:
    # tritonclient's `request_compression_algorithm` sends `Content-Encoding: gzip|deflate`,
    # which Triton's server accepts.
    result = clients.http(iris_server).infer(
        IRIS,
        [http_input("input-0", ROWS)],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    np.testing.assert_array_equal(result.as_numpy("output-0"), iris_estimator.predict(ROWS))


def test_http_concurrent_requests_keep_their_answers(
    clients: Clients, custom_server: RunningServer
) -> None:
    client = clients.http(custom_server, concurrency=4)
    pending = []
    for k in range(16):
        value = np.full((3,), k, dtype=np.float32)
        inputs = [http_input("a", value), http_input("b", value)]
        pending.append((k, client.async_infer("calculator", inputs, request_id=f"req-{k}")))
    for k, request in pending:
        result = request.get_result()
        assert result.get_response()["id"] == f"req-{k}"
        assert result.as_numpy("sum").tolist() == [2.0 * k] * 3


def test_http_errors_carry_the_right_status(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.http(iris_server)
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no-such-model", [http_input("input-0", ROWS)])
    with pytest.raises(InferenceServerException) as bad_shape:
        client.infer(IRIS, [http_input("input-0", np.zeros((2, 3)))])
    with pytest.raises(InferenceServerException) as no_metadata:
        client.get_model_metadata("no-such-model")
    assert_status(unknown, 404)
    assert "no-such-model" in unknown.value.message()
    assert_status(bad_shape, 400)
    assert "4 features" in bad_shape.value.message()
    assert_status(no_metadata, 404)


def test_http_model_versions(clients: Clients, versioned_server: RunningServer) -> None:
    client = clients.http(versioned_server)
    metadata = client.get_model_metadata("iris-versions")
    first_metadata = client.get_model_metadata("iris-versions", model_version="1")
    first = client.infer("iris-versions", [http_input("input-0", ROWS)], model_version="1")
    latest = client.infer("iris-versions", [http_input("input-0", ROWS)])
    assert client.is_model_ready("iris-versions", "1")
    assert not client.is_model_ready("iris-versions", "3")
    with pytest.raises(InferenceServerException) as missing:
        client.infer("iris-versions", [http_input("input-0", ROWS)], model_version="3")
    assert metadata["versions"] == first_metadata["versions"] == ["1", "2"]
    assert first.get_response()["model_version"] == "1"
    assert first.as_numpy("output-0").tolist() == [0, 2]
    assert latest.get_response()["model_version"] == "2"
    assert latest.as_numpy("output-0").tolist() == [1, 1]
    assert_status(missing, 404)


def test_http_repository_unload_and_load(clients: Clients, reload_server: RunningServer) -> None:
    name = "iris-reload"
    client = clients.http(reload_server)
    assert client.get_model_repository_index() == [{"name": name, "state": "READY", "reason": ""}]
    client.unload_model(name)
    assert not client.is_model_ready(name)
    assert client.get_model_repository_index()[0]["state"] == "UNAVAILABLE"
    with pytest.raises(InferenceServerException) as unloaded:
        client.infer(name, [http_input("input-0", ROWS)])
    client.load_model(name)
    assert client.is_model_ready(name)
    result = client.infer(name, [http_input("input-0", ROWS)])
    assert_status(unloaded, 404)
    assert "is unloaded" in unloaded.value.message()
    assert result.as_numpy("output-0").tolist() == [0, 2]


def test_http_load_of_unknown_model_is_not_found(
    clients: Clients, reload_server: RunningServer
) -> None:
    client = clients.http(reload_server)
    with pytest.raises(InferenceServerException) as error:
        client.load_model("no-such-model")
    assert_status(error, 404)


# --- gRPC ------------------------------------------------------------------------------------


def test_grpc_health(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.grpc(iris_server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(IRIS)
    with pytest.raises(InferenceServerException) as unknown:
        client.is_model_ready("no-such-model")
    assert_status(unknown, grpc.StatusCode.NOT_FOUND)


def test_grpc_server_and_model_metadata(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.grpc(iris_server)
    server = client.get_server_metadata(as_json=True)
    model = client.get_model_metadata(IRIS, as_json=True)
    assert server["name"] == "modelplane"
    assert {"binary_tensor_data", "model_repository"} <= set(server["extensions"])
    assert model["name"] == IRIS
    assert model["platform"] == "sklearn"
    # protobuf's JSON writes int64 as strings
    assert model["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": ["-1", "4"]}]
    assert [output["name"] for output in model["outputs"]] == ["output-0", "predict_proba"]


def test_grpc_infer_with_request_id(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    client = clients.grpc(iris_server)
    result = client.infer(IRIS, [grpc_input("input-0", ROWS)], request_id="grpc-1")
    response = result.get_response()
    assert response.id == "grpc-1"
    assert response.model_name == IRIS
    # tritonclient sends raw bytes and reads raw bytes back
    assert len(response.raw_output_contents) == 1
    np.testing.assert_array_equal(result.as_numpy("output-0"), iris_estimator.predict(ROWS))


def test_grpc_selects_one_of_two_outputs(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([[1.0, 2.0]], dtype=np.float32)
    b = np.array([[10.0, 20.0]], dtype=np.float32)
    client = clients.grpc(custom_server)
    both = client.infer("calculator", [grpc_input("a", a), grpc_input("b", b)])
    one = client.infer(
        "calculator",
        [grpc_input("a", a), grpc_input("b", b)],
        outputs=[grpcclient.InferRequestedOutput("sum")],
    )
    assert [out.name for out in both.get_response().outputs] == ["sum", "difference"]
    assert [out.name for out in one.get_response().outputs] == ["sum"]
    assert one.as_numpy("difference") is None
    np.testing.assert_array_equal(one.as_numpy("sum"), a + b)
    np.testing.assert_array_equal(both.as_numpy("difference"), a - b)


def test_grpc_echo_every_datatype(
    clients: Clients, custom_server: RunningServer, echo_tensors: dict[str, tuple[str, Array]]
) -> None:
    inputs = [grpc_input(name, array) for name, array in echo_tensors.values()]
    client = clients.grpc(custom_server)
    result = client.infer("echo", inputs, request_id="echo-grpc")
    response = result.get_response()
    assert response.id == "echo-grpc"
    declared = {out.name: (out.datatype, list(out.shape)) for out in response.outputs}
    for datatype, (name, array) in echo_tensors.items():
        assert declared[name] == (datatype, list(array.shape))
        _assert_echoed(result.as_numpy(name), array)


def test_grpc_request_id_from_metadata(clients: Clients, custom_server: RunningServer) -> None:
    a = np.array([1.0], dtype=np.float32)
    result = clients.grpc(custom_server).infer(
        "calculator", [grpc_input("a", a), grpc_input("b", a)], headers={"x-request-id": "hdr-2"}
    )
    assert result.get_response().id == "hdr-2"


def test_grpc_binary_bytes_and_empty_tensors(
    clients: Clients, custom_server: RunningServer
) -> None:
    raw = np.array([b"\xff\x00\xfe", b"", b"\x00"], dtype=np.object_)
    empty = np.zeros((2, 0), dtype=np.float16)
    result = clients.grpc(custom_server).infer(
        "echo", [grpc_input("raw", raw), grpc_input("empty", empty)]
    )
    assert as_bytes(result.as_numpy("raw")) == as_bytes(raw)
    _assert_echoed(result.as_numpy("empty"), empty)


def test_grpc_predict_proba_parameter(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    result = clients.grpc(iris_server).infer(
        IRIS, [grpc_input("input-0", ROWS)], parameters={"predict_proba": True}
    )
    np.testing.assert_allclose(
        result.as_numpy("output-0"), iris_estimator.predict_proba(ROWS), rtol=0, atol=1e-12
    )


def test_grpc_concurrent_requests_keep_their_answers(
    clients: Clients, custom_server: RunningServer
) -> None:
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = clients.grpc(custom_server)
    for k in range(16):
        value = np.full((3,), k, dtype=np.float32)
        client.async_infer(
            "calculator",
            [grpc_input("a", value), grpc_input("b", value)],
            callback=lambda result, error: answers.put((result, error)),
            request_id=f"req-{k}",
        )
    for _ in range(16):
        result, error = answers.get(timeout=30)
        assert error is None
        k = int(result.get_response().id.removeprefix("req-"))
        assert result.as_numpy("sum").tolist() == [2.0 * k] * 3


def test_large_tensors_round_trip(clients: Clients, custom_server: RunningServer) -> None:
    # 6 MB: past gRPC's default 4 MB message limit, inside the server's max_request_size
    big = np.random.default_rng(0).random((1, 1_500_000), dtype=np.float32)
    over_http = clients.http(custom_server).infer("echo", [http_input("big", big)])
    over_grpc = clients.grpc(custom_server).infer("echo", [grpc_input("big", big)])
    np.testing.assert_array_equal(over_http.as_numpy("big"), big)
    np.testing.assert_array_equal(over_grpc.as_numpy("big"), big)


def test_grpc_errors_map_to_status_codes(clients: Clients, iris_server: RunningServer) -> None:
    client = clients.grpc(iris_server)
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no-such-model", [grpc_input("input-0", ROWS)])
    with pytest.raises(InferenceServerException) as bad_shape:
        client.infer(IRIS, [grpc_input("input-0", np.zeros((2, 3)))])
    with pytest.raises(InferenceServerException) as bad_datatype:
        client.infer(IRIS, [grpc_input("input-0", np.array([[b"a", b"b"]], np.object_))])
    with pytest.raises(InferenceServerException) as no_metadata:
        client.get_model_metadata("no-such-model")
    assert_status(unknown, grpc.StatusCode.NOT_FOUND)
    assert "no-such-model" in unknown.value.message()
    assert_status(bad_shape, grpc.StatusCode.INVALID_ARGUMENT)
    assert "4 features" in bad_shape.value.message()
    assert_status(bad_datatype, grpc.StatusCode.INVALID_ARGUMENT)
    assert_status(no_metadata, grpc.StatusCode.NOT_FOUND)


def test_grpc_model_versions(clients: Clients, versioned_server: RunningServer) -> None:
    name = "iris-versions"
    client = clients.grpc(versioned_server)
    metadata = client.get_model_metadata(name, as_json=True)
    first = client.infer(name, [grpc_input("input-0", ROWS)], model_version="1")
    second = client.infer(name, [grpc_input("input-0", ROWS)], model_version="2")
    latest = client.infer(name, [grpc_input("input-0", ROWS)])
    assert client.is_model_ready(name, "2")
    with pytest.raises(InferenceServerException) as missing_ready:
        client.is_model_ready(name, "3")
    index = client.get_model_repository_index(as_json=True)
    with pytest.raises(InferenceServerException) as missing:
        client.infer(name, [grpc_input("input-0", ROWS)], model_version="3")
    with pytest.raises(InferenceServerException) as missing_metadata:
        client.get_model_metadata(name, model_version="3")
    assert metadata["versions"] == ["1", "2"]
    assert first.get_response().model_version == "1"
    assert first.as_numpy("output-0").tolist() == [0, 2]
    assert second.get_response().model_version == "2"
    assert second.as_numpy("output-0").tolist() == [1, 1]
    assert latest.get_response().model_version == "2"
    assert sorted(row["version"] for row in index["models"]) == ["1", "2"]
    assert all(row["state"] == "READY" for row in index["models"])
    assert_status(missing, grpc.StatusCode.NOT_FOUND)
    assert "'3'" in missing.value.message()
    assert_status(missing_metadata, grpc.StatusCode.NOT_FOUND)
    assert_status(missing_ready, grpc.StatusCode.NOT_FOUND)


def test_grpc_repository_unload_and_load(clients: Clients, reload_server: RunningServer) -> None:
    # Triton's client puts the model name in field 2 of the load/unload requests.
    name = "iris-reload"
    client = clients.grpc(reload_server)
    client.unload_model(name)
    assert not client.is_model_ready(name)
    unavailable = client.get_model_repository_index(as_json=True)
    with pytest.raises(InferenceServerException) as unloaded:
        client.infer(name, [grpc_input("input-0", ROWS)])
    client.load_model(name)
    assert client.is_model_ready(name)
    result = client.infer(name, [grpc_input("input-0", ROWS)])
    with pytest.raises(InferenceServerException) as unknown:
        client.unload_model("no-such-model")
    assert unavailable["models"] == [{"name": name, "state": "UNAVAILABLE", "reason": "unloaded"}]
    assert_status(unloaded, grpc.StatusCode.NOT_FOUND)
    assert result.as_numpy("output-0").tolist() == [0, 2]
    assert_status(unknown, grpc.StatusCode.NOT_FOUND)
