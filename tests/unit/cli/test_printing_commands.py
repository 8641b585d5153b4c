"""The pure parts of the resource commands: document order, apply's merge patch, kubectl's
wording of errors, durations and conditions (the commands themselves run in integration)."""

from __future__ import annotations

import base64

import click
import pytest

from modelplane.cli import apiclient, kube_commands, kube_views
from modelplane.controlplane import tls
from modelplane.resources import catalog


def _doc(kind: str, name: str) -> tuple[str, dict]:
    return ("f.yaml", {"kind": kind, "metadata": {"name": name}})


def test_runtimes_are_applied_before_services_and_deleted_after_them() -> None:
    documents = [
        _doc("InferenceService", "a"),
        _doc("ServingRuntime", "rt"),
        _doc("Other", "x"),
        _doc("InferenceService", "b"),
        _doc("ClusterServingRuntime", "crt"),
    ]
    ordered = [d["metadata"]["name"] for _, d in kube_commands.order_documents(documents)]
    assert ordered == ["crt", "rt", "x", "a", "b"]
    backwards = kube_commands.order_documents(documents, reverse=True)
    assert [d["metadata"]["name"] for _, d in backwards] == ["b", "a", "x", "rt", "crt"]


def test_merge_patch_sets_changes_keeps_server_fields_and_nulls_dropped_ones() -> None:
    original = {"spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3}}}
    desired = {"spec": {"predictor": {"minReplicas": 2}}, "metadata": {"name": "x"}}
    live = {
        "metadata": {"name": "x", "uid": "u"},
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3, "timeout": 60}},
        "status": {"url": "http://x"},
    }
    assert kube_commands.merge_patch(original, desired, live) == {
        "spec": {"predictor": {"minReplicas": 2, "maxReplicas": None}}
    }


def test_merge_patch_is_empty_when_live_already_matches_despite_defaults() -> None:
    desired = {"spec": {"predictor": {"model": {"storageUri": "s"}}}}
    live = {"spec": {"predictor": {"model": {"storageUri": "s", "protocolVersion": "v1"}}}}
    assert kube_commands.merge_patch(desired, desired, live) == {}


def test_merge_patch_replaces_lists_and_fields_that_changed_type() -> None:
    desired = {"spec": {"args": ["--b"], "env": {"A": "1"}}}
    live = {"spec": {"args": ["--a"], "env": "A=1"}}
    assert kube_commands.merge_patch({}, desired, live) == desired


def test_invalid_objects_are_reported_with_their_field_paths() -> None:
    error = apiclient.ApiError.from_status(
        {
            "kind": "Status", "code": 422, "reason": "Invalid",
            "message": 'InferenceService.serving.kserve.io "x" is invalid: ...',
            "details": {"kind": "InferenceService", "name": "x", "causes": [
                {"field": "spec.predictor.model.storageUri", "message": "Required value"},
                {"field": "spec.predictor.minReplicas", "message": "must be >= 0"},
            ]},
        }
    )  # fmt: skip
    assert kube_commands.server_message(error) == (
        'The InferenceService "x" is invalid:\n'
        "* spec.predictor.model.storageUri: Required value\n"
        "* spec.predictor.minReplicas: must be >= 0"
    )


def test_other_refusals_read_as_kubectls_error_from_server() -> None:
    error = apiclient.ApiError.from_status(
        {"code": 404, "reason": "NotFound",
         "message": 'inferenceservices.serving.kserve.io "x" not found'}
    )  # fmt: skip
    assert kube_commands.server_message(error) == (
        'Error from server (NotFound): inferenceservices.serving.kserve.io "x" not found'
    )
    assert apiclient.ApiError.from_status({}, 502).message == "the server answered 502"


def test_a_namespace_in_the_document_must_agree_with_the_flag() -> None:
    kind = catalog.INFERENCE_SERVICE
    doc: dict = {"metadata": {"name": "x"}}
    assert kube_commands.document_namespace(kind, doc, None, "default") == "default"
    assert doc["metadata"]["namespace"] == "default"
    assert kube_commands.document_namespace(kind, {"metadata": {}}, "team", "default") == "team"
    with pytest.raises(kube_commands.Failure, match="does not match the namespace"):
        kube_commands.document_namespace(kind, {"metadata": {"namespace": "a"}}, "b", "default")
    cluster = catalog.CLUSTER_SERVING_RUNTIME
    assert kube_commands.document_namespace(cluster, {"metadata": {}}, "b", "default") is None


def test_unknown_kinds_in_files_are_named_with_their_source() -> None:
    with pytest.raises(kube_commands.Failure, match='no matches for kind "Deployment"') as info:
        kube_commands.document_kind(
            "app.yaml", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
        )
    assert 'from "app.yaml"' in info.value.message
    with pytest.raises(kube_commands.Failure, match='doesn\'t have a resource type "pods"'):
        kube_commands.find_kind("pods")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("5", 5), ("1.5s", 1.5)],
)
def test_durations_read_as_kubectl_reads_them(text: str, seconds: float) -> None:
    assert kube_views.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "1h 2m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        kube_views.parse_duration(text)


def test_a_condition_is_met_only_when_its_status_matches() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert kube_views.condition_met(obj, "ready", "true")
    assert not kube_views.condition_met(obj, "Ready", "False")
    assert not kube_views.condition_met(obj, "PredictorReady", "True")
    assert not kube_views.condition_met({}, "Ready", "True")


def test_urls_are_built_from_the_catalogue() -> None:
    isvc = catalog.INFERENCE_SERVICE
    assert apiclient.resource_path(isvc, "default") == (
        "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
    )
    assert (
        apiclient.resource_path(isvc, None) == "/apis/serving.kserve.io/v1beta1/inferenceservices"
    )
    assert apiclient.resource_path(isvc, "ns", "x", "status").endswith(
        "/ns/inferenceservices/x/status"
    )
    assert apiclient.resource_path(catalog.CLUSTER_SERVING_RUNTIME, "ns", "rt") == (
        "/apis/serving.kserve.io/v1alpha1/clusterservingruntimes/rt"
    )
    assert (
        apiclient.resource_path(apiclient.POD, "ns", "p", "log")
        == "/api/v1/namespaces/ns/pods/p/log"
    )


def test_the_kubeconfig_gives_server_ca_token_and_namespace(tmp_path) -> None:
    path = tmp_path / "kubeconfig"
    ca_pem = tls.ensure(tmp_path / "tls").ca_pem
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: mp\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443/',"
        f" certificate-authority-data: {base64.b64encode(ca_pem).decode()}}}}}]\n"
        "users: [{name: u, user: {token: secret}}]\n"
        "contexts: [{name: mp, context: {cluster: c, user: u, namespace: team}}]\n"
    )
    config = apiclient.load_config(path)
    assert config == apiclient.Config(
        server="https://127.0.0.1:6443", token="secret", ca_pem=ca_pem.decode(), namespace="team"
    )
    assert apiclient.kubeconfig_path(None, {"MODELPLANE_HOME": str(tmp_path)}) == path
    assert apiclient.kubeconfig_path(None, {}) == apiclient.Path(".modelplane/kubeconfig")
    assert apiclient.kubeconfig_path("other") == apiclient.Path("other")


def test_a_missing_or_broken_kubeconfig_says_what_to_do(tmp_path) -> None:
    with pytest.raises(apiclient.ClientError, match="start the control plane with `modelplane up`"):
        apiclient.load_config(tmp_path / "absent")
    (tmp_path / "bad").write_text("current-context: nowhere\ncontexts: []\n")
    with pytest.raises(apiclient.ClientError, match="names context 'nowhere' but does not define"):
        apiclient.load_config(tmp_path / "bad")
