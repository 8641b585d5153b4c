"""`modelplane up` as a user drives it: the KServe YAML applied with `modelplane apply` and
with kubectl, predictions through the gateway, logs, and delete.

Each test starts its own control plane (a subprocess with its own home and free ports) and
reads as a walk through the README's quick start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import sklearn_isvc
from tests.support.models import IRIS_ROWS
from tests.support.process import run_cli


def test_apply_get_predict_logs_and_delete(plane: ControlPlane, models: tuple[Path, Path]) -> None:
    applied = plane.cli("apply", "-f", "-", input=sklearn_isvc("sklearn-iris", models[0]))
    assert applied.returncode == 0, applied.stderr
    assert "inferenceservice.serving.kserve.io/sklearn-iris created" in applied.stdout
    status = plane.wait_ready("sklearn-iris")["status"]
    assert status["url"] == "http://sklearn-iris.default.example.com"
    assert status["components"]["predictor"]["latestReadyRevision"] == (
        "sklearn-iris-predictor-00001"
    )
    assert status["modelStatus"]["states"]["activeModelState"] == "Loaded"

    answer = plane.predict("sklearn-iris", IRIS_ROWS)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [0, 2]}
    assert answer.headers["x-modelplane-revision"] == "sklearn-iris-predictor-00001"
    assert len(answer.headers.get_list("date")) == 1  # the gateway's, not two
    with plane.gateway() as client:  # by path alone, and over V2
        tensor = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": IRIS_ROWS[0]}
        v2 = client.post("/v2/models/sklearn-iris/infer", json={"inputs": [tensor]})
        assert v2.status_code == 200, v2.text
        assert v2.json()["outputs"][0]["data"] == [0]
        missing = client.post("/v1/models/nope:predict", json={"instances": [[1, 2, 3, 4]]})
        assert missing.status_code == 404

    # gRPC through the gateway's :8081, routed by model_name, with Triton's own client.
    grpc_client = triton.InferenceServerClient(f"127.0.0.1:{plane.grpc_port}")
    assert grpc_client.is_server_live() and grpc_client.is_model_ready("sklearn-iris")
    tensor_in = triton.InferInput("input-0", [2, 4], "FP32")
    tensor_in.set_data_from_numpy(np.array(IRIS_ROWS, dtype=np.float32))
    result = grpc_client.infer("sklearn-iris", [tensor_in])
    assert result.as_numpy("output-0").tolist() == [0, 2]
    with pytest.raises(triton.InferenceServerException, match="NOT_FOUND"):
        grpc_client.infer("nope", [tensor_in])
    grpc_client.close()

    table = plane.cli("get", "isvc")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert row.split()[:3] == ["sklearn-iris", "http://sklearn-iris.default.example.com", "True"]
    assert row.split()[3] == "100"  # no canary: PREV is empty, LATEST 100

    again = plane.cli("apply", "-f", "-", input=sklearn_isvc("sklearn-iris", models[0]))
    assert "sklearn-iris unchanged" in again.stdout, again.stdout + again.stderr

    logs = plane.cli("logs", "sklearn-iris")
    assert logs.returncode == 0, logs.stderr
    assert "serving REST on http://127.0.0.1:" in logs.stdout

    deleted = plane.cli("delete", "isvc", "sklearn-iris")
    assert deleted.returncode == 0, deleted.stderr
    wait_until(
        lambda: plane.predict("sklearn-iris", IRIS_ROWS).status_code == 404,
        what="the route to go with the InferenceService",
    )
    wait_until(
        lambda: not list((plane.home / "replicas").glob("*.json")), what="replicas to stop"
    )


def test_kubectl_applies_the_same_yaml(plane: ControlPlane, models: tuple[Path, Path]) -> None:
    applied = plane.kubectl("apply", "-f", "-", input=sklearn_isvc("iris-kubectl", models[0]))
    assert applied.returncode == 0, applied.stderr
    assert "inferenceservice.serving.kserve.io/iris-kubectl created" in applied.stdout
    waited = plane.kubectl(
        "wait", "--for=condition=Ready", "isvc/iris-kubectl", "--timeout=120s"
    )
    assert waited.returncode == 0, waited.stderr
    got = plane.kubectl("get", "isvc", "iris-kubectl")
    assert got.returncode == 0, got.stderr
    assert got.stdout.split()[:6] == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert "http://iris-kubectl.default.example.com" in got.stdout
    answer = plane.predict("iris-kubectl", IRIS_ROWS)
    assert answer.status_code == 200 and answer.json() == {"predictions": [0, 2]}
    pods = plane.kubectl("get", "pods", "-l", "serving.kserve.io/inferenceservice=iris-kubectl")
    assert "iris-kubectl-predictor-00001-" in pods.stdout, pods.stdout + pods.stderr
    others = plane.kubectl("get", "pods", "-l", "serving.kserve.io/inferenceservice=other")
    assert "iris-kubectl" not in others.stdout + others.stderr
    described = plane.kubectl("describe", "isvc", "iris-kubectl")
    assert described.returncode == 0, described.stderr
    events_part = described.stdout.split("Events:")[1]
    assert "RevisionCreated" in events_part and "InferenceServiceReady" in events_part
    listed = plane.kubectl("get", "events")
    assert "inferenceservice/iris-kubectl" in listed.stdout, listed.stdout + listed.stderr
    gone = plane.kubectl("delete", "isvc", "iris-kubectl")
    assert gone.returncode == 0, gone.stderr
    assert 'inferenceservice.serving.kserve.io "iris-kubectl" deleted' in gone.stdout


def test_a_second_control_plane_on_the_same_home_is_refused(plane: ControlPlane) -> None:
    second = run_cli(
        "up", "--home", str(plane.home), "--api-port", "0", "--http-port", "0",
        "--grpc-port", "0",
    )  # fmt: skip
    assert second.returncode == 1
    assert f"another `modelplane up` (pid {plane.proc.pid}) is running" in second.stderr
    assert plane.cli("get", "isvc").returncode == 0  # the first one is untouched
