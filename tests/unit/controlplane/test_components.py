"""A transformer and an explainer beside the predictor: revisions, routes, status and the
arguments KServe gives their containers (fake replicas, no processes)."""

from __future__ import annotations

from typing import Any

from modelplane.controlplane import components, templates
from modelplane.controlplane.gateway import routes
from modelplane.resources import builtin, catalog, validation
from tests.unit.controlplane import test_reconciler
from tests.unit.controlplane.test_reconciler import put, ready, status

world = test_reconciler.world  # the same fake replicas and gateway

SERVE = ("python", "-m", "modelplane.cli", "serve")
TRANSFORMER = {"containers": [{"name": "kserve-container", "image": "modelplane",
                               "args": ["serve", "--model-class=t:T"]}]}  # fmt: skip


def with_components(**spec: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "default"},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "file:///m"}},
            **spec,
        },
    }
    return validation.validate(obj)[0]


def test_kserve_args_are_added_unless_the_container_sets_them() -> None:
    argv = components.link_args(
        ["t", "--model_name=x"], name="iris", namespace="ns", protocol="grpc-v2", ours=False
    )
    assert argv == ["t", "--model_name=x", "--predictor_host=iris-predictor.ns",
                    "--protocol=grpc-v2", "--http_port={http_port}"]  # fmt: skip


def test_the_shap_explainer_runs_modelplane_serve_of_the_builtin_class() -> None:
    obj = with_components(explainer={"shap": {"storageUri": "file:///bg", "config": {"a": "1"}}})
    runtimes = templates.Runtimes(cluster=builtin.cluster_runtimes())
    plan = templates.plan(obj, runtimes, serve_argv=SERVE, component="explainer")
    assert plan.spec is not None
    argv = plan.spec["template"]["argv"]
    assert argv[:4] == list(SERVE)
    assert f"--model-class={components.SHAP_CLASS}" in argv
    assert "--storage-uri=file:///bg" in argv and "--model_name=iris" in argv
    assert '"a": "1"' in plan.spec["template"]["env"]["MODELPLANE_EXPLAINER_CONFIG"]


def test_each_component_gets_revisions_routes_and_status(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, with_components(transformer=TRANSFORMER, explainer={"shap": {}}))
    loop.reconcile()
    revs = {r["metadata"]["name"] for r in objects.list(catalog.REVISION)[0]}
    assert revs == {"iris-predictor-00001", "iris-transformer-00001", "iris-explainer-00001"}
    by_name = {r.name: r for r in gateway.routes}
    assert by_name["iris"].component == "transformer" and by_name["iris"].entry
    assert not by_name["iris-predictor"].entry
    assert "iris-predictor.default" in by_name["iris-predictor"].hosts
    assert ready(status(objects)["conditions"], "TransformerReady") == "False"

    fakes.ready |= revs
    loop.reconcile()
    current = status(objects)
    assert ready(current["conditions"]) == "True"
    assert current["components"]["explainer"]["latestReadyRevision"] == "iris-explainer-00001"

    by_name = {r.name: r for r in gateway.routes}
    table = routes.RouteTable(gateway.routes)
    host = "iris.default.example.com"
    assert table.resolve(host, "/v1/models/iris:predict")[0] is by_name["iris"]
    assert table.resolve(host, "/v1/models/iris:explain")[0] is by_name["iris-explainer"]
    assert table.resolve("", "/v1/models/iris:explain")[0] is by_name["iris-explainer"]
    assert table.by_model("iris-predictor") is None

    put(objects, with_components())  # both taken out: their revisions go
    loop.reconcile()
    revs = {r["metadata"]["name"] for r in objects.list(catalog.REVISION)[0]}
    assert revs == {"iris-predictor-00001"}
    assert set(status(objects)["components"]) == {"predictor"}


def test_which_gateway_port_a_component_dials_follows_its_protocol() -> None:
    assert components.speaks_grpc(["serve", "--protocol=grpc-v2"])
    assert components.speaks_grpc(["python", "-m", "t", "--predictor_protocol", "grpc-v2"])
    assert not components.speaks_grpc(["serve", "--protocol", "v2"])
    assert not components.speaks_grpc(["serve"])


def test_a_custom_explainer_container_gets_kserves_args() -> None:
    containers = [{"name": "kserve-container", "image": "me/explainer", "command": ["explain"]}]
    obj = with_components(explainer={"containers": containers})
    runtimes = templates.Runtimes(cluster=builtin.cluster_runtimes())
    plan = templates.plan(obj, runtimes, serve_argv=SERVE, component="explainer")
    assert plan.spec is not None
    assert plan.spec["template"]["argv"] == [
        "explain", "--model_name=iris", "--predictor_host=iris-predictor.default",
        "--protocol=v1", "--http_port={http_port}",
    ]  # fmt: skip


def test_a_component_that_cannot_run_keeps_the_service_from_ready(world: Any) -> None:
    objects, fakes, _gateway, loop = world
    image_only = {"containers": [{"name": "kserve-container", "image": "me/transformer"}]}
    put(objects, with_components(transformer=image_only))
    loop.reconcile()
    fakes.ready.add("iris-predictor-00001")
    loop.reconcile()
    conditions = status(objects)["conditions"]
    assert ready(conditions, "PredictorReady") == "True"
    found = next(c for c in conditions if c["type"] == "TransformerReady")
    assert found["status"] == "False" and found["reason"] == "ContainerCannotRun"
    assert ready(conditions) == "False"
