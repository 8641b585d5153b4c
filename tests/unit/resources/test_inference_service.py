"""InferenceServices as KServe's docs write them: every predictor form reads to a PredictorModel."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from modelplane.resources import inference_service, validation
from tests.support.manifests import SEED, isvc


def predictor_model(obj: dict[str, Any]) -> inference_service.PredictorModel:
    out, _ = validation.validate(obj)
    return inference_service.InferenceService.from_object(out).predictor_model()


def test_the_docs_first_inference_service_reads_with_kserves_defaults() -> None:
    obj = yaml.safe_load(SEED)
    out, warnings = validation.validate(obj)
    assert warnings == []
    model = inference_service.InferenceService.from_object(out).predictor_model()
    assert model.source == "model"
    assert model.model_format == "sklearn"
    assert model.model_format_version is None
    assert model.runtime is None
    assert model.storage_uri == "gs://kfserving-examples/models/sklearn/1.0/model"
    assert model.protocol_version == "v1"
    assert (model.min_replicas, model.max_replicas) == (1, 0)
    assert model.scale_metric == "concurrency"
    assert model.container_concurrency == 0
    assert model.canary_traffic_percent is None
    assert model.containers == []


def test_defaults_are_written_into_the_users_own_shape() -> None:
    obj = yaml.safe_load(SEED)
    before = copy.deepcopy(obj)
    out, _ = validation.validate(obj)
    assert obj == before  # the input is not touched
    predictor = out["spec"]["predictor"]
    assert predictor["model"] == {
        "modelFormat": {"name": "sklearn"},
        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
        "protocolVersion": "v1",
    }
    assert predictor["minReplicas"] == 1


@pytest.mark.parametrize(
    "predictor",
    [
        {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}},
        {"sklearn": {"storageUri": "gs://m", "resources": {"limits": {"cpu": "500m"}}}},
        {
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "me/model:1",
                    "ports": [{"containerPort": 8080}],
                    "securityContext": {"runAsNonRoot": True},
                }
            ]
        },
        {
            "minReplicas": 0,
            "maxReplicas": 3,
            "scaleTarget": 5,
            "scaleMetric": "rps",
            "containerConcurrency": 2,
            "timeout": 30,
            "canaryTrafficPercent": 10,
            "batcher": {"maxBatchSize": 8},
            "logger": {"url": "http://sink"},
            "model": {
                "modelFormat": {"name": "xgboost", "version": "2"},
                "storageUri": "gs://m",
                "args": ["--nthread=1"],
                "env": [{"name": "A", "value": "1"}],
            },
        },
    ],
    ids=["model", "legacy", "containers", "everything"],
)
def test_validation_round_trips(predictor: dict[str, Any]) -> None:
    first = validation.validate(isvc(predictor))
    assert validation.validate(first[0]) == first
    assert contains(first[0]["spec"]["predictor"], predictor)  # nothing written is lost


def contains(big: Any, small: Any) -> bool:
    """Whether `big` holds everything `small` does (defaults may add keys, never change them)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and contains(big[k], v) for k, v in small.items()
        )
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(contains, big, small))
    return bool(big == small and type(big) is type(small))


def test_v2_protocol_is_kept() -> None:
    model = predictor_model(isvc({"model": {
        "modelFormat": {"name": "sklearn"}, "protocolVersion": "v2",
        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}))  # fmt: skip
    assert model.protocol_version == "v2"


def test_a_legacy_framework_key_implies_its_format() -> None:
    model = predictor_model(isvc({"sklearn": {
        "storageUri": "gs://m", "runtimeVersion": "1.3", "args": ["--workers=2"],
        "env": [{"name": "X", "value": "y"}, {"name": "S", "valueFrom": {"secretKeyRef": {}}}],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}}))  # fmt: skip
    assert (model.source, model.model_format, model.runtime) == ("sklearn", "sklearn", None)
    assert model.protocol_version == "v1"
    assert model.args == ["--workers=2"]
    assert model.env == {"X": "y"}  # valueFrom needs a cluster
    assert model.resources == {"requests": {"cpu": "1", "memory": "2Gi"}}


def test_explicit_runtime_and_version_are_read() -> None:
    model = predictor_model(isvc({"model": {
        "modelFormat": {"name": "sklearn", "version": "1"}, "runtime": "my-runtime",
        "storageUri": "gs://m"}}))  # fmt: skip
    assert (model.model_format_version, model.runtime) == ("1", "my-runtime")


def test_canary_and_autoscaling_fields() -> None:
    model = predictor_model(isvc({
        "canaryTrafficPercent": 10, "minReplicas": 0, "maxReplicas": 5, "scaleTarget": 4,
        "scaleMetric": "rps", "containerConcurrency": 8, "timeout": 60,
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}}))  # fmt: skip
    assert model.canary_traffic_percent == 10
    assert (model.min_replicas, model.max_replicas, model.scale_target) == (0, 5, 4)
    assert (model.scale_metric, model.container_concurrency, model.timeout) == ("rps", 8, 60)


def test_batcher_takes_kserves_defaults_for_what_is_not_given() -> None:
    model = predictor_model(isvc({"batcher": {"maxBatchSize": 16},
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}}))  # fmt: skip
    assert model.batcher is not None
    assert (model.batcher.max_batch_size, model.batcher.max_latency) == (16, 500)
    assert model.batcher.timeout == 60


def test_logger_mode_defaults_to_all() -> None:
    obj = isvc({"logger": {"url": "http://message-dumper.default/"},
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}})  # fmt: skip
    out, _ = validation.validate(obj)
    assert out["spec"]["predictor"]["logger"]["mode"] == "all"
    model = inference_service.InferenceService.from_object(out).predictor_model()
    assert model.logger is not None
    assert (model.logger.mode, model.logger.url) == ("all", "http://message-dumper.default/")


def test_custom_container_is_the_predictor_and_may_omit_storage_uri() -> None:
    containers = [
        {"name": "sidecar", "image": "busybox"},
        {"name": "kserve-container", "image": "me/custom:1", "args": ["--model_name=x"],
         "env": [{"name": "STORAGE_URI", "value": "gs://bucket/m"}],
         "readinessProbe": {"httpGet": {"path": "/v1/models/x", "port": 8080}}},
    ]  # fmt: skip
    model = predictor_model(isvc({"containers": containers}))
    assert (model.source, model.model_format, model.protocol_version) == ("containers", None, None)
    assert model.storage_uri == "gs://bucket/m"
    assert model.args == ["--model_name=x"]
    assert [c.image for c in model.containers] == ["busybox", "me/custom:1"]
    probe = model.containers[1].readiness_probe
    assert probe is not None and probe.http_get is not None
    assert (probe.http_get.path, probe.http_get.port) == ("/v1/models/x", 8080)


def test_from_object_ignores_unknown_keys() -> None:
    obj = yaml.safe_load(SEED)
    obj["spec"]["predictor"]["model"]["fromTheFuture"] = True
    obj["status"] = {"url": "http://sklearn-iris.default.example.com"}
    read = inference_service.InferenceService.from_object(obj)
    assert read.predictor_model().model_format == "sklearn"
    assert read.status == {"url": "http://sklearn-iris.default.example.com"}
    assert (read.name, read.namespace) == ("sklearn-iris", "default")
