"""KServe's TensorFlow example through `modelplane up`: kubectl applies the flowers sample's
InferenceService, in the docs' new schema (`model.modelFormat.name: tensorflow`) and old schema
(`predictor.tensorflow`), with only the storageUri changed, and the gateway answers.

The model is a TF 1 graph shaped as the sample's (`image_bytes` and `key` in; `scores`,
`prediction` and `key` out) in version directory `0001/`, as the sample's bucket holds it. The
built-in runtime `kserve-tensorflow-serving` serves it: V1 in TF Serving's format (the docs'
request, an image in b64), V2 REST and gRPC. One control plane; both services start at once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.support import tf_models
from tests.support.controlplane import ControlPlane
from tests.support.manifests import FLOWERS, FLOWERS_OLD_SCHEMA, FLOWERS_URI, kserve_docs_example
from tests.support.tf_models import Named

IMAGE = bytes(range(256)) * 3


@pytest.fixture(scope="module")
def flowers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Named]:
    directory, reference = tf_models.flowers(tmp_path_factory.mktemp("flowers"))
    inputs = {"image_bytes": np.array([IMAGE], object), "key": np.array([b"   1"], object)}
    return directory, reference(inputs)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("up") / "home") as running:
        running.wait_up()
        yield running
        assert running.terminate() == 0, running.output


def test_the_flowers_sample_applies_with_kubectl_and_answers(
    plane: ControlPlane, flowers: tuple[Path, Named]
) -> None:
    directory, want = flowers
    new = kserve_docs_example(FLOWERS, FLOWERS_URI, directory)
    old = kserve_docs_example(FLOWERS_OLD_SCHEMA, FLOWERS_URI, directory)
    for manifest, namespace in ((new, "default"), (old, "old")):
        applied = plane.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
        assert applied.returncode == 0, applied.stderr
    for namespace in ("default", "old"):
        waited = plane.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", "isvc/flower-sample",
            "--timeout=120s",
        )  # fmt: skip
        assert waited.returncode == 0, waited.stderr + plane.output
    runtime = plane.isvc("flower-sample")["status"]["components"]["predictor"]
    assert "kserve-tensorflow-serving" in str(plane.revision(runtime["latestCreatedRevision"]))

    row = {"image_bytes": {"b64": base64.b64encode(IMAGE).decode()}, "key": "   1"}
    with plane.gateway() as gateway:
        for namespace in ("default", "old"):
            answer = gateway.post(
                "/v1/models/flower-sample:predict",
                json={"instances": [row]},
                headers={"Host": f"flower-sample.{namespace}.example.com"},
            )
            assert answer.status_code == 200, answer.text
            [prediction] = answer.json()["predictions"]
            assert prediction["key"] == "   1"
            assert prediction["prediction"] == int(want["prediction"][0])
            np.testing.assert_allclose(prediction["scores"], want["scores"][0], rtol=1e-6)

        v2 = gateway.post(
            "/v2/models/flower-sample/infer",
            json={
                "inputs": [
                    {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": ["ab"]},
                    {"name": "key", "shape": [1], "datatype": "BYTES", "data": ["k"]},
                ],
                "outputs": [{"name": "key"}],
            },
            headers={"Host": "flower-sample.default.example.com"},
        )
        assert v2.status_code == 200, v2.text
        assert v2.json()["outputs"][0]["data"] == ["k"]

    client = triton.InferenceServerClient(f"127.0.0.1:{plane.grpc_port}")
    tensors = [triton.InferInput(n, [1], "BYTES") for n in ("image_bytes", "key")]
    tensors[0].set_data_from_numpy(np.array([IMAGE], dtype=np.object_))
    tensors[1].set_data_from_numpy(np.array([b"   1"], dtype=np.object_))
    host = {"host": "flower-sample.default.example.com"}  # the name is served in two namespaces
    result = client.infer("flower-sample", tensors, headers=host)
    client.close()
    np.testing.assert_allclose(result.as_numpy("scores"), want["scores"], rtol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("prediction"), want["prediction"])
