"""Triton and KServe's image-only runtimes under `modelplane up`, applied with kubectl.

A `modelFormat: triton` InferenceService in the shape of KServe's Triton docs (only storageUri
changed) runs the real Triton Inference Server on a Python-backend model repository written
here, and answers Triton's own clients, REST and gRPC, through the gateway. A user's
ServingRuntime naming KServe's `kserve/sklearnserver` image, with no command, runs as
`modelplane serve` with the same args.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests.support.controlplane import ControlPlane
from tests.support.models import IRIS_ROWS, train_sklearn

MODEL_PY = """\
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            a = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            b = pb_utils.get_input_tensor_by_name(request, "INPUT1").as_numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("OUTPUT0", (a + b).astype(np.float32)),
                pb_utils.Tensor("OUTPUT1", (a - b).astype(np.float32)),
            ]))
        return responses
"""
CONFIG = """\
name: "add_sub"
backend: "python"
max_batch_size: 0
input [
  { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "INPUT1" data_type: TYPE_FP32 dims: [ 4 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "OUTPUT1" data_type: TYPE_FP32 dims: [ 4 ] }
]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""
# KServe's Triton docs (torchscript-cifar10), storageUri changed; the model inside the
# repository has its own name, so requests find the service by its host.
TRITON_ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: triton-add-sub
spec:
  predictor:
    model:
      modelFormat:
        name: triton
      protocolVersion: v2
      storageUri: {uri}
      runtimeVersion: 20.10-py3
      env:
      - name: OMP_NUM_THREADS
        value: "1"
      resources:
        limits:
          cpu: 1
          memory: 2Gi
        requests:
          cpu: 1
          memory: 2Gi
"""
HOST = "triton-add-sub.default.example.com"
SKLEARN_IMAGE_RUNTIME = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: sklearnserver-image
spec:
  supportedModelFormats:
  - name: sklearn
    version: "1"
  protocolVersions: [v1, v2]
  containers:
  - name: kserve-container
    image: kserve/sklearnserver:v0.14
    args:
    - --model_name={{{{.Name}}}}
    - --model_dir=/mnt/models
    - --http_port=8080
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris-image
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      runtime: sklearnserver-image
      storageUri: file://{model}
"""


@pytest.fixture(scope="module")
def module_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    home = tmp_path_factory.mktemp("plane") / "home"
    with ControlPlane(home) as running:
        running.wait_up()
        yield running
        assert running.terminate() == 0, running.output


@pytest.fixture(scope="module")
def add_sub_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model_repository")
    (root / "add_sub" / "1").mkdir(parents=True)
    (root / "add_sub" / "config.pbtxt").write_text(CONFIG)
    (root / "add_sub" / "1" / "model.py").write_text(MODEL_PY)
    return root


def test_triton_isvc_answers_tritonclient_over_rest_and_grpc(
    module_plane: ControlPlane, add_sub_repository: Path
) -> None:
    manifest = TRITON_ISVC.format(uri=f"file://{add_sub_repository}")
    applied = module_plane.kubectl("apply", "-f", "-", input=manifest)
    assert applied.returncode == 0, applied.stderr
    status = module_plane.wait_ready("triton-add-sub")["status"]
    revision = module_plane.revision(status["components"]["predictor"]["latestReadyRevision"])
    assert revision["spec"]["runtime"] == "kserve-tritonserver"

    a = np.array([1, 2, 3, 4], dtype=np.float32)
    b = np.array([1, 1, 1, 1], dtype=np.float32)
    rest = triton_http.InferenceServerClient(f"127.0.0.1:{module_plane.http_port}")
    inputs = [triton_http.InferInput(n, [4], "FP32") for n in ("INPUT0", "INPUT1")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b, binary_data=False)
    answer = rest.infer("add_sub", inputs, headers={"Host": HOST})
    assert answer.as_numpy("OUTPUT0").tolist() == [2, 3, 4, 5]
    assert answer.as_numpy("OUTPUT1").tolist() == [0, 1, 2, 3]
    assert rest.is_model_ready("add_sub", headers={"Host": HOST})
    rest.close()

    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{module_plane.grpc_port}")
    grpc_inputs = [triton_grpc.InferInput(n, [4], "FP32") for n in ("INPUT0", "INPUT1")]
    grpc_inputs[0].set_data_from_numpy(a)
    grpc_inputs[1].set_data_from_numpy(b)
    result = grpc.infer("add_sub", grpc_inputs, headers={"host": HOST})
    assert result.as_numpy("OUTPUT0").tolist() == [2, 3, 4, 5]
    config = grpc.get_model_config("add_sub", headers={"host": HOST}, as_json=True)
    assert config["config"]["backend"] == "python"  # Triton's own answer, forwarded
    with pytest.raises(triton_grpc.InferenceServerException, match="NOT_FOUND"):
        grpc.infer("add_sub", grpc_inputs)  # no host: the model name names no service
    grpc.close()


def test_kserve_sklearnserver_image_runs_as_modelplane_serve(
    module_plane: ControlPlane, tmp_path: Path
) -> None:
    model = train_sklearn(tmp_path)
    applied = module_plane.kubectl(
        "apply", "-f", "-", input=SKLEARN_IMAGE_RUNTIME.format(model=model)
    )
    assert applied.returncode == 0, applied.stderr
    module_plane.wait_ready("iris-image")
    answer = module_plane.predict("iris-image", IRIS_ROWS)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [0, 2]}
