"""Which runtime serves a predictor: KServe's selection rules, and the built-in runtimes."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.resources import builtin, inference_service, serving_runtime


def model(fmt: str | None = "sklearn", **fields: Any) -> inference_service.PredictorModel:
    fields.setdefault("protocol_version", "v1")
    return inference_service.PredictorModel(source="model", model_format=fmt, **fields)


def runtime(
    name: str,
    *formats: dict[str, Any],
    kind: str = "ServingRuntime",
    namespace: str = "default",
    created: str = "2024-01-01T00:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    metadata = {"name": name, "creationTimestamp": created}
    if kind == "ServingRuntime":
        metadata["namespace"] = namespace
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {
            "supportedModelFormats": list(formats),
            "containers": [{"name": "kserve-container", "image": f"{name}:1"}],
            **spec,
        },
    }


def auto(name: str = "sklearn", priority: int | None = None, **more: Any) -> dict[str, Any]:
    fmt = {"name": name, "autoSelect": True, **more}
    return fmt if priority is None else {**fmt, "priority": priority}


def cluster(name: str, *formats: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return runtime(name, *formats, kind="ClusterServingRuntime", **spec)


def select(m: inference_service.PredictorModel, namespaced: list[dict[str, Any]],
           clustered: list[dict[str, Any]]) -> serving_runtime.SelectedRuntime:  # fmt: skip
    return serving_runtime.select_runtime(m, "default", namespaced, clustered)


def test_the_builtin_sklearn_runtime_serves_the_docs_example() -> None:
    chosen = select(model(), [], builtin.cluster_runtimes())
    assert (chosen.name, chosen.kind) == ("kserve-sklearnserver", "ClusterServingRuntime")


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("xgboost", "kserve-xgbserver"), ("lightgbm", "kserve-lgbserver"),
     ("onnx", "kserve-onnxserver"), ("pytorch", "kserve-pytorchserver"),
     ("huggingface", "kserve-huggingfaceserver"), ("tensorflow", "kserve-tensorflow-serving")],
)  # fmt: skip
def test_each_builtin_format_has_a_runtime(fmt: str, name: str) -> None:
    assert select(model(fmt, protocol_version="v2"), [], builtin.cluster_runtimes()).name == name


@pytest.mark.parametrize("version", ["1", "2"])
def test_tensorflow_1_and_2_are_served_as_kserve_serves_them(version: str) -> None:
    tensorflow = model("tensorflow", model_format_version=version)
    chosen = select(tensorflow, [], builtin.cluster_runtimes())
    assert chosen.name == "kserve-tensorflow-serving"


def test_autoselect_takes_the_highest_priority() -> None:
    runtimes = [cluster("low", auto(priority=1)), cluster("high", auto(priority=5)),
                cluster("none", auto())]  # fmt: skip
    assert select(model(), [], runtimes).name == "high"


def test_a_runtime_without_priority_comes_last_and_ties_go_to_the_newest() -> None:
    runtimes = [cluster("none", auto(), created="2025-01-01T00:00:00Z"),
                cluster("old", auto(priority=2), created="2023-01-01T00:00:00Z"),
                cluster("new", auto(priority=2), created="2024-01-01T00:00:00Z")]  # fmt: skip
    assert select(model(), [], runtimes).name == "new"


def test_namespaced_runtimes_come_before_cluster_ones_whatever_their_priority() -> None:
    chosen = select(model(), [runtime("mine", auto(priority=1))], [cluster("c", auto(priority=9))])
    assert (chosen.name, chosen.kind) == ("mine", "ServingRuntime")


def test_runtimes_of_other_namespaces_do_not_count() -> None:
    other = runtime("theirs", auto(priority=9), namespace="other")
    assert select(model(), [other], [cluster("c", auto())]).name == "c"


def test_formats_without_autoselect_are_not_chosen_automatically() -> None:
    runtimes = [cluster("manual", {"name": "sklearn", "priority": 9}), cluster("auto", auto())]
    assert select(model(), [], runtimes).name == "auto"


def test_a_model_version_must_match_the_runtimes() -> None:
    runtimes = [cluster("v1", auto(version="1")), cluster("v2", auto(version="2"))]
    assert select(model(model_format_version="2"), [], runtimes).name == "v2"
    assert select(model(), [], runtimes).name in {"v1", "v2"}  # no version: any of the name


def test_a_runtime_that_does_not_speak_the_protocol_is_skipped() -> None:
    runtimes = [cluster("v1only", auto(priority=9), protocolVersions=["v1"]),
                cluster("both", auto(priority=1), protocolVersions=["v1", "v2"])]  # fmt: skip
    assert select(model(protocol_version="v2"), [], runtimes).name == "both"
    assert select(model(protocol_version="v1"), [], runtimes).name == "v1only"


def test_disabled_and_multi_model_runtimes_are_skipped() -> None:
    runtimes = [
        cluster("off", auto(priority=9), disabled=True),
        cluster("mm", auto(priority=8), multiModel=True),
        cluster("on", auto()),
    ]
    assert select(model(), [], runtimes).name == "on"


def test_no_runtime_names_the_format_and_protocol() -> None:
    with pytest.raises(serving_runtime.NoRuntime, match='"pmml"') as caught:
        select(model("pmml"), [], builtin.cluster_runtimes())
    assert 'protocol "v1"' in str(caught.value)
    with pytest.raises(serving_runtime.NoRuntime, match='"sklearn" version "9"'):
        select(model(model_format_version="9"), [], builtin.cluster_runtimes())


def test_an_explicit_runtime_is_used_by_name_namespaced_first() -> None:
    namespaced = [runtime("pick", {"name": "sklearn"})]  # autoSelect does not matter by name
    clustered = [cluster("pick", auto()), cluster("other", auto(priority=9))]
    chosen = select(model(runtime="pick"), namespaced, clustered)
    assert (chosen.name, chosen.kind) == ("pick", "ServingRuntime")
    assert select(model(runtime="pick"), [], clustered).kind == "ClusterServingRuntime"


@pytest.mark.parametrize(
    ("runtimes", "message"),
    [
        ([], 'is named "pick"'),
        ([cluster("pick", auto(), disabled=True)], "is disabled"),
        ([cluster("pick", auto("xgboost"))], 'does not support model format "sklearn"'),
        ([cluster("pick", auto(), protocolVersions=["v1"])], 'does not support protocol "v2"'),
    ],
)
def test_an_explicit_runtime_that_cannot_serve_is_refused(
    runtimes: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(serving_runtime.NoRuntime, match=message):
        select(model(runtime="pick", protocol_version="v2"), [], runtimes)


def test_custom_containers_have_no_runtime() -> None:
    with pytest.raises(serving_runtime.NoRuntime, match="custom containers"):
        select(model(None), [], builtin.cluster_runtimes())


def test_the_container_for_a_predictor_fills_placeholders_and_merges_its_fields() -> None:
    chosen = select(model(), [], builtin.cluster_runtimes())
    m = model(args=["--workers=2"], env={"A": "1"}, resources={"limits": {"cpu": "2"}})
    values = {
        "Name": "sklearn-iris",
        "StorageUri": "gs://m",
        "HttpPort": "9001",
        "GrpcPort": "9002",
    }
    container = chosen.container_for(m, values)
    assert container.command == ["modelplane"]
    assert container.args == [
        "serve", "--model-name=sklearn-iris", "--model-format=sklearn", "--storage-uri=gs://m",
        "--http-port=9001", "--grpc-port=9002", "--workers=2",
    ]  # fmt: skip
    assert container.env_dict() == {"A": "1"}
    assert container.resources_dict() == {"limits": {"cpu": "2"}}
    assert chosen.container_for(model(), values).resources_dict() == {}  # built-ins ask nothing


def test_a_placeholder_without_a_value_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\{\{\.Port\}\}"):
        serving_runtime.render("--port={{.Port}}", {})
    assert serving_runtime.render("--name={{ .Name }}", {"Name": "x"}) == "--name=x"


def test_builtin_runtimes_are_fresh_each_call() -> None:
    first = builtin.cluster_runtimes()
    first[0]["metadata"]["name"] = "changed"
    assert builtin.cluster_runtimes()[0]["metadata"]["name"] == "kserve-sklearnserver"
    sklearn = first[0]["spec"]["supportedModelFormats"][0]
    assert sklearn == {"name": "sklearn", "version": "1", "autoSelect": True, "priority": 1}
