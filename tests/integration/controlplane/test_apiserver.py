"""The API server over HTTPS with httpx: auth, discovery, writes, errors as Status bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelplane.resources import catalog
from tests.support.apiserver import ApiServer

ISVCS = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
def client(api_server: ApiServer) -> Iterator[httpx.Client]:
    with api_server.client() as c:
        yield c


def isvc(name: str = "iris", uri: str = "gs://models/iris", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"predictor": {"model": {"storageUri": uri}}}, **extra}


def status_of(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == (
        "Status", "Failure", code, reason)
    return body


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_every_request_needs_the_token(api_server: ApiServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in ("/version", "/apis", ISVCS):
        response = httpx.get(api_server.url + path, verify=api_server.ssl_context(),
                             headers=headers)
        status_of(response, 401, "Unauthorized")


def test_discovery_documents(client: httpx.Client) -> None:
    assert client.get("/version").json()["major"] == "1"
    assert client.get("/api").json()["versions"] == ["v1"]
    core = {r["name"] for r in client.get("/api/v1").json()["resources"]}
    assert {"namespaces", "events"} <= core
    groups = {g["name"]: g for g in client.get("/apis").json()["groups"]}
    assert groups["serving.kserve.io"]["preferredVersion"]["version"] == "v1beta1"
    assert client.get("/apis/serving.kserve.io").json()["kind"] == "APIGroup"
    resources = {r["name"]: r for r in
                 client.get("/apis/serving.kserve.io/v1beta1").json()["resources"]}
    assert resources["inferenceservices"]["shortNames"] == ["isvc"]
    assert "patch" in resources["inferenceservices"]["verbs"]
    assert resources["inferenceservices/status"]["verbs"] == ["get", "patch", "update"]
    revisions = client.get("/apis/serving.knative.dev/v1").json()["resources"][0]
    assert revisions["verbs"] == ["get", "list", "watch"]
    status_of(client.get("/apis/nope.io/v1"), 404, "NotFound")


def test_openapi_v3_offers_field_validation_and_no_strategic_merge(client: httpx.Client) -> None:
    url = client.get("/openapi/v3").json()["paths"]["apis/serving.kserve.io/v1beta1"][
        "serverRelativeURL"]
    doc = client.get(url).json()
    item = doc["paths"][
        "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"]
    patch_op = item["patch"]
    assert patch_op["x-kubernetes-group-version-kind"]["kind"] == "InferenceService"
    assert "fieldValidation" in {p["name"] for p in patch_op["parameters"]}
    assert "application/strategic-merge-patch+json" not in patch_op["requestBody"]["content"]
    assert "io.kserve.serving.v1beta1.InferenceService" in doc["components"]["schemas"]


def test_create_get_replace_delete(client: httpx.Client) -> None:
    created = client.post(ISVCS, json=isvc())
    assert created.status_code == 201
    obj = created.json()
    assert obj["spec"]["predictor"]["model"]["protocolVersion"] == "v1"  # defaulted
    status_of(client.post(ISVCS, json=isvc()), 409, "AlreadyExists")
    assert client.get(f"{ISVCS}/iris").json() == obj
    obj["spec"]["predictor"]["model"]["storageUri"] = "gs://models/v2"
    replaced = client.put(f"{ISVCS}/iris", json=obj).json()
    assert replaced["metadata"]["generation"] == 2
    stale = client.put(f"{ISVCS}/iris", json=obj)
    assert "modified" in status_of(stale, 409, "Conflict")["message"]
    assert client.delete(f"{ISVCS}/iris").json()["metadata"]["name"] == "iris"
    body = status_of(client.get(f"{ISVCS}/iris"), 404, "NotFound")
    assert body["details"] == {"name": "iris", "group": "serving.kserve.io",
                               "kind": "inferenceservices"}


def test_generate_name_and_cluster_scoped(client: httpx.Client) -> None:
    generated = client.post(ISVCS, json={**isvc(), "metadata": {"generateName": "iris-"}})
    assert generated.json()["metadata"]["name"].startswith("iris-")
    runtimes = "/apis/serving.kserve.io/v1alpha1/clusterservingruntimes"
    runtime = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime",
               "metadata": {"name": "rt"}, "spec": {"containers": []}}
    assert client.post(runtimes, json=runtime).status_code == 201
    assert client.get(f"{runtimes}/rt").json()["metadata"].get("namespace") is None
    status_of(client.get("/apis/serving.kserve.io/v1alpha1/namespaces/default/"
                         "clusterservingruntimes/rt"), 404, "NotFound")


def test_validation_failures_are_422_with_causes(client: httpx.Client) -> None:
    body = status_of(client.post(ISVCS, json=isvc(uri=" ")), 422, "Invalid")
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "message":
                                          "must not be empty",
                                          "field": "spec.predictor.model.storageUri"}]
    strict = client.post(f"{ISVCS}?fieldValidation=Strict", json=isvc(extra=1))
    assert status_of(strict, 422, "Invalid")["details"]["causes"][0]["field"] == "extra"
    warned = client.post(f"{ISVCS}?fieldValidation=Warn", json=isvc(extra=1))
    assert warned.status_code == 201
    assert warned.headers["warning"] == '299 - "unknown field \\"extra\\""'
    status_of(client.post(f"{ISVCS}?fieldValidation=Loose", json=isvc("b")), 400, "BadRequest")


@pytest.mark.parametrize(
    ("content", "body", "code", "reason"),
    [
        ("application/json", b"{not json", 400, "BadRequest"),
        ("application/json", b"[1, 2]", 400, "BadRequest"),
        ("application/json", b"", 400, "BadRequest"),
        ("application/yaml", b"a: [b", 400, "BadRequest"),
        ("text/csv", b"a,b", 415, "UnsupportedMediaType"),
    ],
)
def test_malformed_bodies(client: httpx.Client, content: str, body: bytes, code: int,
                          reason: str) -> None:
    status_of(client.post(ISVCS, content=body, headers={"Content-Type": content}), code, reason)
    assert client.get(ISVCS).status_code == 200  # still serving


def test_body_must_agree_with_url(client: httpx.Client) -> None:
    status_of(client.post(ISVCS, json={**isvc(), "apiVersion": "serving.kserve.io/v1"}),
              400, "BadRequest")
    status_of(client.post(ISVCS, json={**isvc(), "kind": "ServingRuntime"}), 400, "BadRequest")
    other_ns = isvc()
    other_ns["metadata"]["namespace"] = "other"
    status_of(client.post(ISVCS, json=other_ns), 400, "BadRequest")
    client.post(ISVCS, json=isvc())
    status_of(client.put(f"{ISVCS}/other", json=isvc()), 400, "BadRequest")
    status_of(client.put(f"{ISVCS}/missing", json=isvc("missing")), 404, "NotFound")


def test_revisions_are_read_only(client: httpx.Client, api_server: ApiServer) -> None:
    revisions = "/apis/serving.knative.dev/v1/namespaces/default/revisions"
    revision = {"metadata": {"name": "iris-predictor-00001"}, "spec": {}}
    status_of(client.post(revisions, json=revision), 405, "MethodNotAllowed")
    api_server.call(lambda db: db.create(catalog.REVISION, revision))
    assert client.get(f"{revisions}/iris-predictor-00001").status_code == 200
    status_of(client.delete(f"{revisions}/iris-predictor-00001"), 405, "MethodNotAllowed")
    status_of(client.patch(f"{revisions}/iris-predictor-00001", json={},
                           headers={"Content-Type": "application/merge-patch+json"}),
              405, "MethodNotAllowed")


def test_patch_types(client: httpx.Client) -> None:
    client.post(ISVCS, json=isvc())
    merge = {"Content-Type": "application/merge-patch+json"}
    patched = client.patch(f"{ISVCS}/iris", headers=merge,
                           json={"spec": {"predictor": {"minReplicas": 2}}})
    assert patched.json()["spec"]["predictor"]["minReplicas"] == 2
    assert patched.json()["metadata"]["generation"] == 2
    ops = [{"op": "replace", "path": "/spec/predictor/minReplicas", "value": 3}]
    patched = client.patch(f"{ISVCS}/iris", json=ops,
                           headers={"Content-Type": "application/json-patch+json"})
    assert patched.json()["spec"]["predictor"]["minReplicas"] == 3
    smp = client.patch(f"{ISVCS}/iris", json={}, headers={
        "Content-Type": "application/strategic-merge-patch+json"})
    status_of(smp, 415, "UnsupportedMediaType")
    stale = client.patch(f"{ISVCS}/iris", headers=merge,
                         json={"metadata": {"resourceVersion": "1"}, "spec": {}})
    status_of(stale, 409, "Conflict")
    renamed = client.patch(f"{ISVCS}/iris", headers=merge, json={"metadata": {"name": "x"}})
    assert renamed.status_code in (400, 422)
    status_of(client.patch(f"{ISVCS}/iris", headers=merge, content=b"{"), 400, "BadRequest")
    status_of(client.patch(f"{ISVCS}/nope", headers=merge, json={}), 404, "NotFound")


def test_status_subresource_changes_only_status(client: httpx.Client) -> None:
    client.post(ISVCS, json=isvc())
    merge = {"Content-Type": "application/merge-patch+json"}
    ignored = client.patch(f"{ISVCS}/iris", headers=merge, json={"status": {"url": "x"}})
    assert "status" not in ignored.json()
    patched = client.patch(f"{ISVCS}/iris/status", headers=merge,
                           json={"status": {"url": "http://iris"},
                                 "spec": {"predictor": {"minReplicas": 9}}})
    assert patched.json()["status"] == {"url": "http://iris"}
    assert "minReplicas" not in patched.json()["spec"]["predictor"]
    assert patched.json()["metadata"]["generation"] == 1
    current = client.get(f"{ISVCS}/iris/status").json()
    current["status"]["url"] = "http://other"
    assert client.put(f"{ISVCS}/iris/status", json=current).json()["status"]["url"] == (
        "http://other")
    status_of(client.put(f"{ISVCS}/iris/status", json=current), 409, "Conflict")


def test_dry_run_validates_without_storing(client: httpx.Client) -> None:
    assert client.post(f"{ISVCS}?dryRun=All", json=isvc()).status_code == 201
    status_of(client.get(f"{ISVCS}/iris"), 404, "NotFound")
    status_of(client.post(f"{ISVCS}?dryRun=All", json=isvc(uri="")), 422, "Invalid")
    client.post(ISVCS, json=isvc())
    assert client.request("DELETE", f"{ISVCS}/iris?dryRun=All").status_code == 200
    assert client.get(f"{ISVCS}/iris").status_code == 200


def test_lists_selectors_and_tables(client: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        client.post(ISVCS, json=isvc(name))
    client.post("/apis/serving.kserve.io/v1beta1/namespaces/other/inferenceservices",
                json=isvc("d"))
    names = lambda r: [o["metadata"]["name"] for o in r.json()["items"]]  # noqa: E731
    assert names(client.get(ISVCS)) == ["a", "b", "c"]
    assert names(client.get("/apis/serving.kserve.io/v1beta1/inferenceservices")) == [
        "a", "b", "c", "d"]
    assert names(client.get(ISVCS, params={"labelSelector": "app in (a,c)"})) == ["a", "c"]
    assert names(client.get(ISVCS, params={"labelSelector": "app!=a,app"})) == ["b", "c"]
    assert names(client.get(ISVCS, params={"fieldSelector": "metadata.name=b"})) == ["b"]
    assert names(client.get(ISVCS, params={"limit": "1", "continue": ""})) == ["a", "b", "c"]
    listed = client.get(ISVCS).json()
    assert listed["kind"] == "InferenceServiceList" and listed["metadata"]["resourceVersion"]
    status_of(client.get(ISVCS, params={"labelSelector": "a in b"}), 400, "BadRequest")
    tbl = client.get(ISVCS, headers={"Accept": TABLE}).json()
    assert tbl["kind"] == "Table"
    assert [c["name"] for c in tbl["columnDefinitions"]][:3] == ["Name", "URL", "Ready"]
    assert [r["cells"][0] for r in tbl["rows"]] == ["a", "b", "c"]
    assert tbl["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert client.get("/api/v1/namespaces").json()["items"][1]["metadata"]["name"] == "other"


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    status_of(client.get("/apis/serving.kserve.io/v1beta1/namespaces/default/widgets"),
              404, "NotFound")
    status_of(client.get(f"{ISVCS}/a/scale"), 404, "NotFound")
    status_of(client.post("/version"), 405, "MethodNotAllowed")
    status_of(client.put(ISVCS, json={}), 405, "MethodNotAllowed")


def test_aggregated_discovery_request_gets_the_plain_form(client: httpx.Client) -> None:
    """kubectl asks for APIGroupDiscoveryList first; a plain answer makes it fall back."""
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")
    response = client.get("/apis", headers={"Accept": accept})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["kind"] == "APIGroupList"


def test_malformed_managed_fields_and_preconditions_are_not_500(client: httpx.Client) -> None:
    assert client.post(ISVCS, json=isvc()).status_code == 201
    broken = client.patch(
        f"{ISVCS}/iris",
        json={"metadata": {"managedFields": "x"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert broken.status_code < 500, broken.text
    applied = client.patch(
        f"{ISVCS}/iris?fieldManager=me",
        content=orjson.dumps(isvc(uri="gs://models/iris-2")),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert applied.status_code == 200, applied.text
    refused = client.request("DELETE", f"{ISVCS}/iris", json={"preconditions": "x"})
    status_of(refused, 400, "BadRequest")
