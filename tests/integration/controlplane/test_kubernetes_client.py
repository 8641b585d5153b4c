"""The `kubernetes` Python client against the API server: CustomObjectsApi and watch streams."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.support.apiserver import ApiServer

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


def isvc(name: str = "iris", uri: str = "gs://models/iris") -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                             "storageUri": uri}}}}


@pytest.fixture
def api(api_server: ApiServer) -> Iterator[client.CustomObjectsApi]:
    api_client = config.new_client_from_config(config_file=str(api_server.kubeconfig))
    try:
        yield client.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def test_custom_objects_round_trip(api: client.CustomObjectsApi) -> None:
    args = (GROUP, VERSION, "default", PLURAL)
    created = api.create_namespaced_custom_object(*args, isvc())
    assert created["metadata"]["generation"] == 1
    assert api.get_namespaced_custom_object(*args, "iris")["metadata"]["uid"] == (
        created["metadata"]["uid"])
    listed = api.list_namespaced_custom_object(*args, label_selector="app=iris")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["iris"]
    patched = api.patch_namespaced_custom_object(
        *args, "iris", {"spec": {"predictor": {"minReplicas": 2}}})
    assert patched["spec"]["predictor"]["minReplicas"] == 2
    assert patched["metadata"]["generation"] == 2
    # this client sends merge patches unless told otherwise, lists included (refused: 400)
    ops = [{"op": "replace", "path": "/spec/predictor/minReplicas", "value": 3}]
    with pytest.raises(ApiException) as not_merge:
        api.patch_namespaced_custom_object(*args, "iris", ops)
    assert not_merge.value.status == 400
    json_patched = api.patch_namespaced_custom_object(
        *args, "iris", ops, _content_type="application/json-patch+json")
    assert json_patched["spec"]["predictor"]["minReplicas"] == 3
    json_patched["spec"]["predictor"]["maxReplicas"] = 4
    replaced = api.replace_namespaced_custom_object(*args, "iris", json_patched)
    assert replaced["spec"]["predictor"]["maxReplicas"] == 4
    with pytest.raises(ApiException) as stale:
        api.replace_namespaced_custom_object(*args, "iris", json_patched)
    assert stale.value.status == 409
    status = api.patch_namespaced_custom_object_status(
        *args, "iris", {"status": {"url": "http://iris.default.example.com"}})
    assert status["status"]["url"] == "http://iris.default.example.com"
    got = api.get_namespaced_custom_object_status(*args, "iris")
    assert got["status"]["url"] == "http://iris.default.example.com"
    assert got["metadata"]["generation"] == 4  # three spec changes; status changes none
    every = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert len(every["items"]) == 1
    api.delete_namespaced_custom_object(*args, "iris")
    with pytest.raises(ApiException) as missing:
        api.get_namespaced_custom_object(*args, "iris")
    assert missing.value.status == 404


def test_errors_reach_the_client_as_status(api: client.CustomObjectsApi) -> None:
    args = (GROUP, VERSION, "default", PLURAL)
    with pytest.raises(ApiException) as invalid:
        api.create_namespaced_custom_object(*args, isvc(uri=" "))
    assert invalid.value.status == 422
    assert "spec.predictor.model.storageUri" in invalid.value.body
    api.create_namespaced_custom_object(*args, isvc())
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_custom_object(*args, isvc())
    assert exists.value.status == 409 and "AlreadyExists" in exists.value.body


def test_watch_stream(api: client.CustomObjectsApi, api_server: ApiServer) -> None:
    args = (GROUP, VERSION, "default", PLURAL)
    api.create_namespaced_custom_object(*args, isvc("before"))
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()

    def changes() -> None:
        api.create_namespaced_custom_object(*args, isvc("after"))
        api.patch_namespaced_custom_object(*args, "after", {"metadata": {"labels": {"x": "y"}}})
        api.delete_namespaced_custom_object(*args, "after")

    started = False
    for event in stream.stream(api.list_namespaced_custom_object, *args, timeout_seconds=20):
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if not started:  # the existing object arrives first; then make changes
            started = True
            threading.Thread(target=changes).start()
        if len(seen) == 4:
            stream.stop()
    assert seen == [("ADDED", "before"), ("ADDED", "after"), ("MODIFIED", "after"),
                    ("DELETED", "after")]
