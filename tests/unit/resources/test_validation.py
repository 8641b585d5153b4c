"""Admission: each refusal names its field and reason; unknown fields follow fieldValidation."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.core import errors
from modelplane.resources import builtin, validation


def isvc(predictor: dict[str, Any], name: str = "sklearn-iris", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": predictor, **spec},
    }


MODEL = {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}


def with_model(**fields: Any) -> dict[str, Any]:
    return isvc({"model": dict(MODEL), **fields})


def refusal(obj: dict[str, Any], field_validation: str = "Strict") -> validation.ResourceInvalid:
    with pytest.raises(validation.ResourceInvalid) as caught:
        validation.validate(obj, field_validation=field_validation)
    return caught.value


@pytest.mark.parametrize(
    ("obj", "field", "reason"),
    [
        (isvc({}), "spec.predictor", "FieldValueRequired"),
        (isvc({"model": MODEL, "sklearn": {"storageUri": "gs://m"}}), "spec.predictor",
         "FieldValueInvalid"),
        (isvc({"model": {"modelFormat": {"name": "sklearn"}}}),
         "spec.predictor.model.storageUri", "FieldValueRequired"),
        (isvc({"xgboost": {}}), "spec.predictor.xgboost.storageUri", "FieldValueRequired"),
        (isvc({"model": {"storageUri": "gs://m"}}), "spec.predictor.model.modelFormat",
         "FieldValueRequired"),
        (isvc({"model": {"modelFormat": {}, "storageUri": "gs://m"}}),
         "spec.predictor.model.modelFormat.name", "FieldValueRequired"),
        (isvc({"model": {"modelFormat": {"name": ""}, "storageUri": "gs://m"}}),
         "spec.predictor.model.modelFormat.name", "FieldValueRequired"),
        (with_model(canaryTrafficPercent=101), "spec.predictor.canaryTrafficPercent",
         "FieldValueInvalid"),
        (with_model(canaryTrafficPercent=-1), "spec.predictor.canaryTrafficPercent",
         "FieldValueInvalid"),
        (with_model(minReplicas=-1), "spec.predictor.minReplicas", "FieldValueInvalid"),
        (with_model(maxReplicas=-2), "spec.predictor.maxReplicas", "FieldValueInvalid"),
        (with_model(minReplicas=3, maxReplicas=2), "spec.predictor.maxReplicas",
         "FieldValueInvalid"),
        (with_model(containerConcurrency=-1), "spec.predictor.containerConcurrency",
         "FieldValueInvalid"),
        (with_model(scaleMetric="latency"), "spec.predictor.scaleMetric",
         "FieldValueNotSupported"),
        (with_model(logger={"mode": "everything"}), "spec.predictor.logger.mode",
         "FieldValueNotSupported"),
        (with_model(minReplicas="1"), "spec.predictor.minReplicas", "FieldValueInvalid"),
        (isvc({"model": {**MODEL, "protocolVersion": "v3"}}),
         "spec.predictor.model.protocolVersion", "FieldValueNotSupported"),
        (isvc({"model": MODEL}, name="Sklearn_Iris"), "metadata.name", "FieldValueInvalid"),
        (isvc({"model": MODEL}, name="x" * 64), "metadata.name", "FieldValueInvalid"),
        (isvc({"model": MODEL}, name="1abc"), "metadata.name", "FieldValueInvalid"),
        (isvc({"model": MODEL}, name=""), "metadata.name", "FieldValueRequired"),
        ({**isvc({"model": MODEL}), "metadata": {"name": "a", "namespace": "No"}},
         "metadata.namespace", "FieldValueInvalid"),
        (isvc({"model": "sklearn"}), "spec.predictor.model", "FieldValueInvalid"),
        (isvc(None), "spec.predictor", "FieldValueInvalid"),  # type: ignore[arg-type]
        ({**isvc({}), "spec": None}, "spec", "FieldValueInvalid"),
        (isvc({"model": {**MODEL, "resources": {"limits": {"cpu": "lots"}}}}),
         "spec.predictor.model.resources.limits.cpu", "FieldValueInvalid"),
        (isvc({"model": {**MODEL, "resources": {"requests": {"memory": "2Gb"}}}}),
         "spec.predictor.model.resources.requests.memory", "FieldValueInvalid"),
        (isvc({"containers": [{"name": "c"}]}), "spec.predictor.containers[0].image",
         "FieldValueRequired"),
        (isvc({"containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "j"}]}),
         "spec.predictor.containers[1].name", "FieldValueDuplicate"),
        (isvc({"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": 1}]}]}),
         "spec.predictor.containers[0].env[0].value", "FieldValueInvalid"),
        (isvc({"model": MODEL, "foo": 1}), "spec.predictor.foo", "FieldValueUnknown"),
        (isvc({"model": {**MODEL, "storageURI": "x"}}), "spec.predictor.model.storageURI",
         "FieldValueUnknown"),
        ({**isvc({"model": MODEL}), "extra": {}}, "extra", "FieldValueUnknown"),
    ],
)  # fmt: skip
def test_each_refusal_names_its_field_and_reason(
    obj: dict[str, Any], field: str, reason: str
) -> None:
    error = refusal(obj)
    assert (field, reason) in [(c.field, c.reason) for c in error.causes], error.causes
    assert isinstance(error, errors.ModelplaneError)
    assert (error.kind, error.name) == ("InferenceService", obj["metadata"]["name"])
    assert f"{field}: " in str(error)


def test_all_causes_are_reported_at_once() -> None:
    obj = isvc({"model": {"modelFormat": {"name": "sklearn"}}, "maxReplicas": 1, "minReplicas": 2})
    error = refusal(obj)
    assert {c.field for c in error.causes} == {
        "spec.predictor.model.storageUri",
        "spec.predictor.maxReplicas",
    }
    assert str(error).startswith(
        'InferenceService.serving.kserve.io "sklearn-iris" is invalid: [spec.predictor.model.'
    )


def test_messages_speak_kubernetes() -> None:
    (cause,) = refusal(with_model(canaryTrafficPercent=150)).causes
    assert cause.message == "Invalid value: 150: must be less than or equal to 100"
    (cause,) = refusal(with_model(scaleMetric="latency")).causes
    assert cause.message == (
        'Unsupported value: "latency": supported values: "concurrency", "rps", "cpu", "memory"'
    )
    (cause,) = refusal(isvc({"model": MODEL, "foo": 1})).causes
    assert cause.message == 'unknown field "spec.predictor.foo"'


def test_a_wrong_type_is_named_in_plain_words() -> None:
    (cause,) = refusal(isvc({"model": "sklearn"})).causes
    assert cause.message == 'Invalid value: "sklearn": must be a valid object'


def test_max_replicas_zero_means_no_limit() -> None:
    out, _ = validation.validate(with_model(minReplicas=3, maxReplicas=0))
    assert out["spec"]["predictor"]["maxReplicas"] == 0


@pytest.mark.parametrize("metric", ["cpu", "memory"])
def test_cpu_and_memory_metrics_are_accepted_with_a_warning(metric: str) -> None:
    _, warnings = validation.validate(with_model(scaleMetric=metric))
    assert len(warnings) == 1
    assert "scaleMetric" in warnings[0] and metric in warnings[0]


def test_unknown_fields_under_warn_are_dropped_with_kubectls_warning() -> None:
    obj = isvc({"model": {**MODEL, "bogus": 1}, "foo": {"bar": 2}})
    out, warnings = validation.validate(obj, field_validation="Warn")
    assert warnings == [
        'unknown field "spec.predictor.model.bogus"',
        'unknown field "spec.predictor.foo"',
    ]
    assert "foo" not in out["spec"]["predictor"]
    assert "bogus" not in out["spec"]["predictor"]["model"]
    assert "bogus" in obj["spec"]["predictor"]["model"]  # the caller's dict is untouched


def test_unknown_fields_under_ignore_are_dropped_silently() -> None:
    out, warnings = validation.validate(isvc({"model": MODEL, "foo": 1}), field_validation="Ignore")
    assert warnings == []
    assert "foo" not in out["spec"]["predictor"]


def test_kubernetes_container_and_pod_fields_are_not_unknown() -> None:
    container = {
        "name": "kserve-container",
        "image": "i",
        "securityContext": {"runAsUser": 1},
        "volumeMounts": [{"name": "v", "mountPath": "/m"}],
        "lifecycle": {},
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": 1}},
    }
    predictor = {
        "containers": [container],
        "serviceAccountName": "sa",
        "volumes": [],
        "nodeSelector": {"a": "b"},
        "tolerations": [],
        "labels": {"x": "y"},
    }
    out, warnings = validation.validate(isvc(predictor))
    assert warnings == []
    assert out["spec"]["predictor"]["serviceAccountName"] == "sa"  # carried, not dropped


def test_status_is_passed_through() -> None:
    obj = {**with_model(), "status": {"url": "http://x", "anything": [1, 2]}}
    out, _ = validation.validate(obj)
    assert out["status"] == {"url": "http://x", "anything": [1, 2]}


def test_a_transformer_and_an_explainer_are_accepted_and_defaulted() -> None:
    obj = isvc(
        {"model": MODEL},
        transformer={"containers": [{"name": "t", "image": "i", "command": ["t"]}]},
        explainer={"shap": {"type": "KernelExplainer", "config": {"nsamples": "50"}}},
    )
    out, warnings = validation.validate(obj)
    assert warnings == []
    assert out["spec"]["transformer"]["minReplicas"] == 1
    assert out["spec"]["explainer"]["minReplicas"] == 1


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"transformer": {}}, "spec.transformer.containers", "FieldValueRequired"),
        ({"transformer": {"containers": [{"name": "t"}], "minReplicas": 3, "maxReplicas": 2}},
         "spec.transformer.maxReplicas", "FieldValueInvalid"),
        ({"explainer": {}}, "spec.explainer", "FieldValueRequired"),
        ({"explainer": {"alibi": {"type": "AnchorTabular"}}}, "spec.explainer.alibi",
         "FieldValueNotSupported"),
        ({"explainer": {"shap": {}, "containers": [{"name": "e"}]}}, "spec.explainer",
         "FieldValueInvalid"),
        ({"explainer": {"shap": {"type": "Anchors"}}}, "spec.explainer.shap.type",
         "FieldValueNotSupported"),
    ],
)  # fmt: skip
def test_a_component_that_cannot_run_is_refused(
    spec: dict[str, Any], field: str, reason: str
) -> None:
    error = refusal(isvc({"model": MODEL}, **spec))
    assert (field, reason) in [(c.field, c.reason) for c in error.causes]


def test_an_unknown_kind_is_refused() -> None:
    error = refusal({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})
    assert [(c.field, c.reason) for c in error.causes] == [("kind", "FieldValueNotSupported")]


def test_field_validation_must_be_one_of_kubernetes_values() -> None:
    with pytest.raises(ValueError, match="Strict"):
        validation.validate(with_model(), field_validation="Loose")


def runtime(**spec: Any) -> dict[str, Any]:
    base = {
        "supportedModelFormats": [{"name": "sklearn", "autoSelect": True}],
        "containers": [{"name": "kserve-container", "image": "img"}],
    }
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "rt", "namespace": "default"},
        "spec": {**base, **spec},
    }


def test_builtin_runtimes_are_valid_and_round_trip() -> None:
    for obj in builtin.cluster_runtimes():
        out, warnings = validation.validate(obj)
        assert (out, warnings) == (obj, [])


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"containers": []}, "spec.containers", "FieldValueRequired"),
        ({"supportedModelFormats": [{"name": "sklearn", "priority": 0}]},
         "spec.supportedModelFormats[0].priority", "FieldValueInvalid"),
        ({"supportedModelFormats": [{"name": "a", "version": "1"}, {"name": "a", "version": "1"}]},
         "spec.supportedModelFormats[1]", "FieldValueDuplicate"),
        ({"protocolVersions": ["v9"]}, "spec.protocolVersions[0]", "FieldValueNotSupported"),
        ({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "1Q"}}}]},
         "spec.containers[0].resources.limits.memory", "FieldValueInvalid"),
        ({"autoSelect": True}, "spec.autoSelect", "FieldValueUnknown"),
    ],
)  # fmt: skip
def test_serving_runtime_refusals(spec: dict[str, Any], field: str, reason: str) -> None:
    error = refusal(runtime(**spec))
    assert (field, reason) in [(c.field, c.reason) for c in error.causes], error.causes
    assert error.kind == "ServingRuntime"


def test_revisions_are_checked_for_their_name_only() -> None:
    rev = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": "sklearn-iris-predictor-00001"},
        "spec": {"anything": 1},
    }
    assert validation.validate(rev) == (rev, [])
    with pytest.raises(validation.ResourceInvalid):
        validation.validate({**rev, "metadata": {"name": "Bad_Name"}})


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"name": "iris", "labels": "x"}, "metadata.labels"),
        ({"name": "iris", "labels": {"team": 1}}, "metadata.labels"),
        ({"name": "iris", "annotations": ["a"]}, "metadata.annotations"),
        ({"generateName": "Bad_"}, "metadata.generateName"),
    ],
)
def test_metadata_shapes_are_checked(metadata: dict, field: str) -> None:
    obj = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "s3://m/x"}}},
    }  # fmt: skip
    with pytest.raises(validation.ResourceInvalid) as refused:
        validation.validate(obj)
    assert [c.field for c in refused.value.causes] == [field]
