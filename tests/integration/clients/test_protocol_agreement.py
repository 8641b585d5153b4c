"""Every protocol, one answer: V1, V2 REST (JSON and binary) and gRPC agree with scikit-learn.

The same iris rows go to one server over V1 (httpx), V2 REST JSON (httpx and tritonclient), V2
REST binary (tritonclient) and gRPC (tritonclient); every answer must equal the served model's own
`predict` and `predict_proba`, loaded from the same file with joblib.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from tests.integration.clients.triton import Array, Clients, grpc_input, http_input
from tests.support.models import IRIS_ROWS
from tests.support.serving import RunningServer

IRIS = "sklearn-iris"
ROWS = np.array(IRIS_ROWS, dtype=np.float64)


def _v1(server: RunningServer, proba: bool) -> Array:
    body: dict[str, Any] = {"instances": IRIS_ROWS}
    if proba:
        body["parameters"] = {"predict_proba": True}
    response = httpx.post(f"{server.http_url}/v1/models/{IRIS}:predict", json=body)
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["predictions"])


def _v2_json_httpx(server: RunningServer, output: str) -> Array:
    body = {
        "inputs": [
            {"name": "input-0", "shape": list(ROWS.shape), "datatype": "FP64", "data": IRIS_ROWS}
        ],
        "outputs": [{"name": output}],
    }
    response = httpx.post(f"{server.http_url}/v2/models/{IRIS}/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    (tensor,) = response.json()["outputs"]
    return np.asarray(tensor["data"]).reshape(tensor["shape"])


def _v2_rest(clients: Clients, server: RunningServer, output: str, binary: bool) -> Array:
    client = clients.http(server)
    result = client.infer(
        IRIS,
        [http_input("input-0", ROWS, binary)],
        outputs=[httpclient.InferRequestedOutput(output, binary_data=binary)],
    )
    (tensor,) = result.get_response()["outputs"]
    assert ("binary_data_size" in tensor.get("parameters", {})) is binary
    array = result.as_numpy(output)
    assert array is not None
    return array


def _grpc(clients: Clients, server: RunningServer, output: str) -> Array:
    client = clients.grpc(server)
    result = client.infer(
        IRIS, [grpc_input("input-0", ROWS)], outputs=[grpcclient.InferRequestedOutput(output)]
    )
    array = result.as_numpy(output)
    assert array is not None
    return array


def _every_protocol(
    clients: Clients, server: RunningServer, output: str, proba: bool
) -> dict[str, Array]:
    return {
        "v1": _v1(server, proba),
        "v2-json-httpx": _v2_json_httpx(server, output),
        "v2-json-tritonclient": _v2_rest(clients, server, output, binary=False),
        "v2-binary-tritonclient": _v2_rest(clients, server, output, binary=True),
        "grpc-tritonclient": _grpc(clients, server, output),
    }


def test_every_protocol_gives_sklearns_classes(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    expected = iris_estimator.predict(ROWS)
    answers = _every_protocol(clients, iris_server, "output-0", proba=False)
    for protocol, answer in answers.items():
        assert answer.tolist() == expected.tolist(), protocol
    assert expected.tolist() == [0, 2]


def test_every_protocol_gives_sklearns_probabilities(
    clients: Clients, iris_server: RunningServer, iris_estimator: Any
) -> None:
    expected = iris_estimator.predict_proba(ROWS)
    answers = _every_protocol(clients, iris_server, "predict_proba", proba=True)
    for protocol, answer in answers.items():
        assert answer.shape == expected.shape, protocol
        np.testing.assert_allclose(answer, expected, rtol=0, atol=1e-9, err_msg=protocol)
