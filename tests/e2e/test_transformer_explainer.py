"""A transformer and an explainer beside a real sklearn predictor, through `modelplane up`.

One control plane for the module. `iris` is KServe's transformer example adapted only in image
-> command and storage URI (the transformer class is written against `kserve`, as KServe's docs
write it: tests/integration/kserve_client/kserve_transformer.py), with the built-in SHAP
explainer beside it; `iris-grpc` has a predictor speaking grpc-v2, so its transformer calls it
over gRPC through the gateway. Clients reach the transformer over V1, V2 and gRPC; `:explain`
goes to the explainer; a canary applies to the transformer alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.controlplane import ControlPlane, wait_until
from tests.support.models import IRIS_ROWS, train_sklearn

TRANSFORMER = "tests.integration.kserve_client.kserve_transformer:IrisTransformer"
V1_BODY = {"instances": [{"sepal": r[:2], "petal": r[2:]} for r in IRIS_ROWS]}
NAMES = ["setosa", "virginica"]


def service(name: str, model: Path, protocol: str, transformer_extra: str = "",
            explainer: bool = False) -> str:  # fmt: skip
    explain = """\
  explainer:
    shap:
      type: KernelExplainer
      config:
        nsamples: "64"
""" if explainer else ""  # fmt: skip
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      protocolVersion: {protocol}
      storageUri: file://{model}
  transformer:
{transformer_extra}    containers:
    - name: kserve-container
      image: modelplane
      command: [modelplane, serve, --model-class={TRANSFORMER}]
{explain}"""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    model = train_sklearn(tmp_path_factory.mktemp("iris"))
    home = tmp_path_factory.mktemp("home")
    with ControlPlane(home / "home") as running:
        running.wait_up()
        running.apply(service("iris", model, "v1", explainer=True))
        running.apply(service("iris-grpc", model, "grpc-v2"))
        running.model = model  # type: ignore[attr-defined]
        running.wait_ready("iris")
        running.wait_ready("iris-grpc")
        yield running
        assert running.terminate() == 0, running.output


def post(plane: ControlPlane, path: str, body: Any, host: str) -> Any:
    with plane.gateway() as client:
        answer = client.post(path, json=body, headers={"Host": host})
    assert answer.status_code == 200, answer.text
    return answer


def test_status_has_every_component(plane: ControlPlane) -> None:
    status = plane.isvc("iris")["status"]
    parts = status["components"]
    assert set(parts) == {"predictor", "transformer", "explainer"}
    assert parts["transformer"]["url"] == "http://iris-transformer.default.example.com"
    assert parts["explainer"]["latestReadyRevision"] == "iris-explainer-00001"
    assert parts["transformer"]["traffic"] == [
        {"revisionName": "iris-transformer-00001", "percent": 100, "latestRevision": True}
    ]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["TransformerReady"] == ready["ExplainerReady"] == ready["Ready"] == "True"
    argv = plane.revision("iris-transformer-00001")["spec"]["template"]["argv"]
    assert "--predictor_host=iris-predictor.default" in argv and "--protocol=v1" in argv


@pytest.mark.parametrize("name", ["iris", "iris-grpc"])
def test_the_transformer_answers_v1_v2_and_grpc(plane: ControlPlane, name: str) -> None:
    host = f"{name}.default.example.com"
    answer = post(plane, f"/v1/models/{name}:predict", V1_BODY, host)
    assert answer.json() == {"predictions": NAMES}
    assert answer.headers["x-modelplane-revision"] == f"{name}-transformer-00001"
    rows = [x for row in IRIS_ROWS for x in row]
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": rows}]}
    answer = post(plane, f"/v2/models/{name}/infer", body, host)
    assert answer.json()["outputs"][0]["data"] == NAMES
    with grpc.insecure_channel(f"127.0.0.1:{plane.grpc_port}") as channel:
        tensor = pb.ModelInferRequest.InferInputTensor(
            name="x",
            datatype="FP64",
            shape=[2, 4],
            contents=pb.InferTensorContents(fp64_contents=rows),
        )
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            pb.ModelInferRequest(model_name=name, inputs=[tensor]), timeout=30
        )
    assert [s.decode() for s in reply.outputs[0].contents.bytes_contents] == NAMES
    # The predictor keeps its own host: it answers class ids, untransformed.
    direct = post(plane, f"/v1/models/{name}:predict", {"instances": IRIS_ROWS},
                  f"{name}-predictor.default.example.com")  # fmt: skip
    assert direct.json() == {"predictions": [0, 2]}


def test_explain_goes_to_the_explainer(plane: ControlPlane) -> None:
    answer = post(plane, "/v1/models/iris:explain", {"instances": IRIS_ROWS},
                  "iris.default.example.com")  # fmt: skip
    assert answer.headers["x-modelplane-revision"] == "iris-explainer-00001"
    doc = answer.json()
    assert doc["explainer"] == "shap.KernelExplainer"
    assert doc["predictions"] == [0, 2]
    for row, prediction, base in zip(
        doc["shap_values"], doc["predictions"], doc["base_values"], strict=True
    ):
        assert sum(row) == pytest.approx(prediction - base, abs=1e-6)


def test_a_canary_applies_to_the_transformer_alone(plane: ControlPlane) -> None:
    model = plane.model  # type: ignore[attr-defined]
    extra = "    canaryTrafficPercent: 50\n    minReplicas: 1\n    maxReplicas: 2\n"
    plane.apply(service("iris", model, "v1", transformer_extra=extra, explainer=True))

    def split() -> dict[str, int] | None:
        parts = plane.isvc("iris")["status"]["components"]
        found = {t["revisionName"]: t["percent"] for t in parts["transformer"]["traffic"]}
        # 0% to the new revision until it is ready, then the canary's share.
        return found if len(found) == 2 and all(found.values()) else None

    assert wait_until(split, what="a 50/50 transformer split") == {
        "iris-transformer-00002": 50,
        "iris-transformer-00001": 50,
    }
    predictor = plane.isvc("iris")["status"]["components"]["predictor"]["traffic"]
    assert [t["revisionName"] for t in predictor] == ["iris-predictor-00001"]
    seen: Counter[str] = Counter()
    for _ in range(40):
        answer = post(plane, "/v1/models/iris:predict", V1_BODY, "iris.default.example.com")
        assert answer.json() == {"predictions": NAMES}
        seen[answer.headers["x-modelplane-revision"]] += 1
    assert set(seen) == {"iris-transformer-00001", "iris-transformer-00002"}, seen
