"""Every manifest `modelplane export` writes fits KServe's and Kubernetes' own schemas, field by
field, as the `kserve` and `kubernetes` packages' models describe them (tests/support/
kube_schema.py): no unknown field, no wrong type, nothing required missing. It lives here because
it imports `kserve` (see conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from modelplane.resources import export, loading
from tests.support import kube_schema
from tests.support.manifests import isvc

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(
    path
    for path in (ROOT / "examples").glob("*.yaml")
    if any(doc.get("kind") == "InferenceService" for doc in loading.load_documents(path))
)

# One service that uses much of what a predictor may say, so the export keeps it all valid.
RICH = isvc(
    {
        "minReplicas": 0,
        "maxReplicas": 4,
        "scaleTarget": 5,
        "scaleMetric": "concurrency",
        "canaryTrafficPercent": 20,
        "containerConcurrency": 8,
        "timeout": 60,
        "labels": {"team": "ml"},
        "annotations": {"note": "kept"},
        "serviceAccountName": "model-reader",
        "nodeSelector": {"pool": "cpu"},
        "batcher": {"maxBatchSize": 16, "maxLatency": 50},
        "logger": {"mode": "all", "url": "http://logger.default"},
        "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
        "sklearn": {
            "storageUri": "s3://models/iris",
            "protocolVersion": "v2",
            "args": ["--workers=2"],
            "env": [{"name": "STORAGE_REGION", "value": "eu"}],
            "resources": {
                "requests": {"cpu": "500m", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        },
    },
    name="rich",
)


def exported(documents: list[dict[str, Any]], all_runtimes: bool = False) -> list[dict[str, Any]]:
    return export.export(documents, image="modelplane:0.1.0", all_runtimes=all_runtimes).objects


def test_the_examples_are_found() -> None:
    assert {"sklearn-iris.yaml", "kserve-seed.yaml"} <= {path.name for path in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_exported_example_fits_kserves_schema(path: Path) -> None:
    objects = exported(loading.load_documents(path))
    assert objects[0]["kind"] == "ClusterServingRuntime"
    for obj in objects:
        assert kube_schema.problems(obj) == [], obj


def test_every_runtime_and_a_rich_service_fit_kserves_schema() -> None:
    objects = exported([RICH], all_runtimes=True)
    names = [obj["metadata"]["name"] for obj in objects]
    formats = ("sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "huggingface", "tensorflow")
    assert names == [*(f"modelplane-{f}" for f in formats), "rich"]
    for obj in objects:
        assert kube_schema.problems(obj) == [], obj
    assert objects[-1]["spec"]["predictor"]["model"]["runtime"] == "modelplane-sklearn"


def test_the_checker_refuses_what_kserve_would() -> None:
    runtime, service = copy.deepcopy(exported([RICH]))
    predictor = service["spec"]["predictor"]
    predictor["model"]["storageURI"] = "s3://typo"
    predictor["minReplicas"] = "1"
    predictor["model"]["resources"]["requests"]["gpus"] = 1
    container = runtime["spec"]["containers"][0]
    container["securityContext"]["runAsNonroot"] = True
    del container["name"]
    runtime["spec"]["supportedModelFormats"][0]["autoselect"] = True
    del service["spec"]["predictor"]
    service["spec"]["predictors"] = predictor
    assert kube_schema.problems(runtime) == [
        "ClusterServingRuntime.spec.supportedModelFormats[0].autoselect: unknown field "
        "(not in V1alpha1SupportedModelFormat)",
        "ClusterServingRuntime.spec.containers[0].name: Field required (V1Container)",
        "ClusterServingRuntime.spec.containers[0].securityContext.runAsNonroot: Extra inputs "
        "are not permitted (V1Container)",
    ]
    found = kube_schema.problems(service)
    assert found[0] == (
        "InferenceService.spec.predictors: unknown field (not in V1beta1InferenceServiceSpec)"
    )
    missing = "Invalid value for `predictor`, must not be `None`"
    assert f"InferenceService.spec: V1beta1InferenceServiceSpec: {missing}" in found
    service["spec"] = {"predictor": predictor}
    assert kube_schema.problems(service) == [
        "InferenceService.spec.predictor.minReplicas: must be int, not str '1'",
        "InferenceService.spec.predictor.model.resources.requests.gpus: Input should be a "
        "valid string (V1ResourceRequirements)",
        "InferenceService.spec.predictor.model.storageURI: unknown field (not in V1beta1ModelSpec)",
    ]


def test_a_service_with_a_transformer_and_the_builtin_explainer_fits_kserves_schema() -> None:
    obj = isvc({"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m"}})
    obj["spec"]["transformer"] = {
        "containers": [{"name": "kserve-container", "image": "modelplane:0.1.0",
                        "command": ["modelplane", "serve", "--model-class=t:T"]}]
    }  # fmt: skip
    obj["spec"]["explainer"] = {"shap": {"storageUri": "s3://bg", "config": {"nsamples": "50"}}}
    objects = exported([obj])
    assert "containers" in objects[-1]["spec"]["explainer"]
    for found in objects:
        assert kube_schema.problems(found) == [], found
