"""`resources.export`: the runtimes it writes, and each InferenceService pointed at one of them
with nothing else changed. (KServe's and Kubernetes' schemas check the same output in
tests/integration/kserve_client/test_export_schema.py; the runtime's command runs in e2e.)"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelplane.resources import export, inference_service, serving_runtime, validation
from tests.support.manifests import isvc

IMAGE = "registry.example.com/modelplane:9"
FORMATS = ["sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "huggingface", "tensorflow"]


def model(fmt: str = "sklearn", **more: Any) -> dict[str, Any]:
    return {"modelFormat": {"name": fmt}, "storageUri": "s3://models/iris", **more}


def run(*documents: dict[str, Any], all_runtimes: bool = False) -> export.Export:
    return export.export(list(documents), image=IMAGE, all_runtimes=all_runtimes)


def runtimes(result: export.Export) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for o in result.objects if o["kind"] == "ClusterServingRuntime"
    }


def services(result: export.Export) -> list[dict[str, Any]]:
    return [o for o in result.objects if o["kind"] == "InferenceService"]


def test_every_format_modelplane_serves_has_a_runtime() -> None:
    result = run(all_runtimes=True)
    assert list(runtimes(result)) == [f"modelplane-{fmt}" for fmt in FORMATS]
    assert result.notes == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_runtime_runs_modelplane_serve_with_kserves_model_server_args(fmt: str) -> None:
    runtime = runtimes(run(all_runtimes=True))[f"modelplane-{fmt}"]
    spec = runtime["spec"]
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == IMAGE
    assert container["command"] == ["modelplane", "serve"]
    assert container["args"] == [
        "--model_name={{.Name}}",
        "--model_dir=/mnt/models",
        "--http_port=8080",
        "--grpc_port=8081",
        f"--model-format={fmt}",
    ]
    assert container["env"] == [{"name": "MODELPLANE_HOST", "value": "0.0.0.0"}]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # Named by the services, never auto-selected: KServe's own runtime keeps its format.
    assert all(f["name"] == fmt and f["autoSelect"] is False for f in spec["supportedModelFormats"])
    assert {"v1", "v2"} <= set(spec["protocolVersions"])


def test_kserves_format_versions_are_listed() -> None:
    found = {
        name: [f["version"] for f in rt["spec"]["supportedModelFormats"]]
        for name, rt in runtimes(run(all_runtimes=True)).items()
    }
    assert found["modelplane-sklearn"] == ["1"]
    assert found["modelplane-xgboost"] == ["2"]
    assert found["modelplane-lightgbm"] == ["4"]


def test_the_model_form_names_the_runtime_and_keeps_every_other_field() -> None:
    predictor = {
        "minReplicas": 2,
        "maxReplicas": 5,
        "canaryTrafficPercent": 10,
        "scaleTarget": 4,
        "labels": {"team": "ml"},
        "model": model(
            protocolVersion="v2",
            resources={"requests": {"cpu": "2", "memory": "1Gi"}},
            env=[{"name": "A", "value": "b"}],
        ),
        "serviceAccountName": "reader",
    }
    given = isvc(predictor, name="iris")
    given["metadata"]["annotations"] = {"note": "kept"}
    original = copy.deepcopy(given)
    result = run(given)
    assert given == original  # the input is not changed
    (out,) = services(result)
    expected = copy.deepcopy(original)
    expected["spec"]["predictor"]["model"]["runtime"] = "modelplane-sklearn"
    assert out == expected
    assert list(runtimes(result)) == ["modelplane-sklearn"]
    assert result.objects[0]["kind"] == "ClusterServingRuntime"  # runtimes come first
    assert result.notes == []


@pytest.mark.parametrize("named", ["kserve-sklearnserver", "modelplane-sklearn"])
def test_a_builtin_runtime_named_by_the_service_is_replaced(named: str) -> None:
    (out,) = services(run(isvc({"model": model(runtime=named)})))
    assert out["spec"]["predictor"]["model"]["runtime"] == "modelplane-sklearn"


def test_a_framework_key_becomes_the_model_form_in_its_place() -> None:
    predictor = {
        "minReplicas": 0,
        "xgboost": {"storageUri": "gs://b/m", "protocolVersion": "v2", "args": ["--x"]},
        "timeout": 30,
    }
    (out,) = services(run(isvc(predictor)))
    assert out["spec"]["predictor"] == {
        "minReplicas": 0,
        "model": {
            "modelFormat": {"name": "xgboost"},
            "storageUri": "gs://b/m",
            "protocolVersion": "v2",
            "args": ["--x"],
            "runtime": "modelplane-xgboost",
        },
        "timeout": 30,
    }


def test_only_the_runtimes_the_services_use_are_exported() -> None:
    result = run(isvc({"model": model("onnx")}, "a"), isvc({"lightgbm": model("x")}, "b"))
    assert list(runtimes(result)) == ["modelplane-lightgbm", "modelplane-onnx"]


def test_a_format_version_the_service_asks_for_is_listed_beside_kserves() -> None:
    given = isvc({"model": {**model(), "modelFormat": {"name": "sklearn", "version": "1.5"}}})
    runtime = runtimes(run(given))["modelplane-sklearn"]
    assert [f["version"] for f in runtime["spec"]["supportedModelFormats"]] == ["1", "1.5"]


def test_modelplanes_own_selection_picks_the_named_runtime_from_the_export() -> None:
    given = [
        isvc({"model": {**model(), "modelFormat": {"name": "sklearn", "version": "1.5"}}}, "a"),
        isvc({"onnx": {"storageUri": "s3://m", "protocolVersion": "grpc-v2"}}, "b"),
        isvc({"model": model("huggingface", protocolVersion="v2")}, "c"),
    ]
    result = run(*given, all_runtimes=True)
    clustered = list(runtimes(result).values())
    for out in services(result):
        wanted = inference_service.InferenceService.from_object(out).predictor_model()
        chosen = serving_runtime.select_runtime(wanted, "default", [], clustered)
        assert chosen.name == out["spec"]["predictor"]["model"]["runtime"]


def test_what_the_server_set_is_dropped() -> None:
    stored = isvc({"model": model()})
    stored["metadata"].update(
        resourceVersion="7", uid="u-1", generation=2, creationTimestamp="2024-01-01T00:00:00Z",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"},
    )  # fmt: skip
    stored["status"] = {"url": "http://sklearn-iris.default.example.com"}
    (out,) = services(run(stored))
    assert out["metadata"] == {"name": "sklearn-iris", "namespace": "default"}
    assert "status" not in out


def test_a_model_on_this_machine_is_named_in_a_note() -> None:
    for uri in ("file://examples/models/iris", "/models/iris", "models/iris"):
        result = run(isvc({"model": {**model(), "storageUri": uri}}))
        (note,) = result.notes
        assert f'storageUri "{uri}" is on this machine' in note
        assert services(result)[0]["spec"]["predictor"]["model"]["storageUri"] == uri


def test_a_field_modelplane_does_not_know_goes_on_as_written_with_a_note() -> None:
    given = isvc({"model": model(), "autoScaling": {"metrics": []}})
    result = run(given)
    assert services(result)[0]["spec"]["predictor"]["autoScaling"] == {"metrics": []}
    assert result.notes == [
        'InferenceService "sklearn-iris": unknown field "spec.predictor.autoScaling" '
        "(not modelplane's; passed on for KServe to judge)"
    ]


def test_a_format_modelplane_does_not_serve_is_left_for_kserve() -> None:
    given = isvc({"pmml": {"storageUri": "gs://m"}})
    result = run(given)
    assert services(result) == [given]
    assert runtimes(result) == {}
    assert result.notes == [
        'InferenceService "sklearn-iris": modelplane has no runtime for model format '
        '"pmml"; left for KServe\'s own runtimes'
    ]


def test_a_custom_container_and_other_objects_pass_through() -> None:
    custom = isvc({"containers": [{"name": "kserve-container", "image": "me/server:1"}]})
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3"}, "data": {}}
    result = run(custom, secret)
    assert result.objects == [custom, secret]
    assert result.notes == []


def test_a_runtime_of_the_users_own_is_kept_with_a_note() -> None:
    own = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "mine", "namespace": "default"},
        "spec": {
            "supportedModelFormats": [{"name": "sklearn"}],
            "containers": [{"name": "kserve-container", "image": "me/rt:1"}],
        },
    }
    mine = isvc({"model": model(runtime="mine")}, "a")
    elsewhere = isvc({"model": model(runtime="theirs")}, "b")
    result = run(own, mine, elsewhere)
    assert result.objects == [own, mine, elsewhere]
    assert result.notes == [
        'InferenceService "a": keeps the runtime it names, "mine" (is in the export)',
        'InferenceService "b": keeps the runtime it names, "theirs" (must exist in the cluster)',
    ]


@pytest.mark.parametrize(
    ("predictor", "cause"),
    [
        (
            {"model": {"modelFormat": {"name": "sklearn"}}},
            "spec.predictor.model.storageUri: Required",
        ),
        ({"model": model(), "minReplicas": -1}, "spec.predictor.minReplicas: Invalid value: -1"),
        ({"model": model(), "sklearn": model()}, "exactly one of [model, sklearn"),
    ],
)
def test_an_invalid_service_is_refused_with_its_fields(
    predictor: dict[str, Any], cause: str
) -> None:
    with pytest.raises(validation.ResourceInvalid) as caught:
        run(isvc(predictor))
    assert 'InferenceService.serving.kserve.io "sklearn-iris" is invalid: ' in str(caught.value)
    assert cause in str(caught.value)


def test_the_builtin_explainer_becomes_a_container_kserve_runs() -> None:
    shap = {"type": "PermutationExplainer", "storageUri": "s3://bg", "config": {"max_evals": "99"}}
    obj = isvc({"model": model()})
    obj["spec"]["explainer"] = {"minReplicas": 2, "shap": shap}
    (service,) = services(run(obj))
    explainer = service["spec"]["explainer"]
    assert "shap" not in explainer and explainer["minReplicas"] == 2
    (container,) = explainer["containers"]
    assert container["image"] == IMAGE and container["command"] == ["modelplane", "serve"]
    assert f"--model-class={inference_service.SHAP_EXPLAINER_CLASS}" in container["args"]
    assert "--model_dir=/mnt/models" in container["args"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["STORAGE_URI"] == "s3://bg"
    assert env["MODELPLANE_EXPLAINER_CONFIG"] == (
        '{"max_evals": "99", "type": "PermutationExplainer"}'
    )
    validation.validate(service)  # still a service modelplane runs: containers now
