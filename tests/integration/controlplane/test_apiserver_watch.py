"""WATCH over HTTPS: event streams, resourceVersions, the watch-list protocol, bookmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelplane.resources import catalog
from tests.support.apiserver import ApiServer

ISVCS = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
MERGE = {"Content-Type": "application/merge-patch+json"}


def isvc(name: str) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name}, "spec": {"predictor": {"model": {"storageUri": "x"}}}}


@pytest.fixture
def fast_bookmarks(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path / "home", bookmark_interval=0.2).start()
    try:
        yield server
    finally:
        server.stop()


def events(client: httpx.Client, count: int, **params: str) -> list[dict[str, Any]]:
    """The first `count` events of a watch (all of them if it ends first)."""
    found: list[dict[str, Any]] = []
    with client.stream("GET", ISVCS, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        for line in response.iter_lines():
            if line:
                found.append(orjson.loads(line))
            if len(found) == count:
                break
    return found


def test_watch_from_resource_version_sees_changes_in_order(api_server: ApiServer) -> None:
    with api_server.client() as client:
        client.post(ISVCS, json=isvc("first"))  # resourceVersion "0" would mean "any"
        rv = client.get(ISVCS).json()["metadata"]["resourceVersion"]
        client.post(ISVCS, json=isvc("a"))
        client.patch(f"{ISVCS}/a", headers=MERGE, json={"metadata": {"labels": {"x": "y"}}})
        client.delete(f"{ISVCS}/a")
        seen = events(client, 3, resourceVersion=rv)
    assert [e["type"] for e in seen] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_without_version_starts_with_what_exists(api_server: ApiServer) -> None:
    with api_server.client() as client:
        client.post(ISVCS, json=isvc("a"))
        client.post(ISVCS, json=isvc("b"))
        seen = events(client, 5, timeoutSeconds="1", fieldSelector="metadata.name=b")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [("ADDED", "b")]


def test_watch_list_protocol_ends_initial_events_with_a_bookmark(api_server: ApiServer) -> None:
    with api_server.client() as client:
        client.post(ISVCS, json=isvc("a"))
        params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                  "allowWatchBookmarks": "true"}
        seen = events(client, 2, **params)
        assert seen[0]["type"] == "ADDED"
        assert seen[1]["type"] == "BOOKMARK"
        meta = seen[1]["object"]["metadata"]
        assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert meta["resourceVersion"] == seen[0]["object"]["metadata"]["resourceVersion"]
        wrong = client.get(ISVCS, params={"watch": "1", "sendInitialEvents": "true"})
        assert wrong.status_code == 422
        assert wrong.json()["reason"] == "Invalid"


def test_timeout_seconds_ends_the_stream(api_server: ApiServer) -> None:
    started = time.monotonic()
    with api_server.client() as client:
        client.post(ISVCS, json=isvc("first"))
        rv = client.get(ISVCS).json()["metadata"]["resourceVersion"]
        assert events(client, 10, resourceVersion=rv, timeoutSeconds="1") == []
    assert 0.9 < time.monotonic() - started < 10


def test_idle_watch_gets_bookmarks(fast_bookmarks: ApiServer) -> None:
    with fast_bookmarks.client() as client:
        client.post(ISVCS, json=isvc("a"))
        rv = client.get(ISVCS).json()["metadata"]["resourceVersion"]
        seen = events(client, 2, resourceVersion=rv, allowWatchBookmarks="true")
    assert [e["type"] for e in seen] == ["BOOKMARK", "BOOKMARK"]
    assert seen[0]["object"]["metadata"]["resourceVersion"] == rv


def test_too_old_resource_version_is_410(tmp_path: Path) -> None:
    first = ApiServer(tmp_path / "home").start()
    with first.client() as client:
        client.post(ISVCS, json=isvc("a"))
        client.post(ISVCS, json=isvc("b"))
    first.stop()
    again = ApiServer(tmp_path / "home").start()
    try:
        with again.client() as client:
            response = client.get(ISVCS, params={"watch": "true", "resourceVersion": "1"})
            assert response.status_code == 410
            assert response.json()["reason"] == "Expired"
    finally:
        again.stop()


def test_disconnected_watch_is_forgotten(api_server: ApiServer) -> None:
    watchers = lambda: api_server.call(lambda db: db.watchers)  # noqa: E731
    with api_server.client() as client:
        with client.stream("GET", ISVCS, params={"watch": "true"}) as response:
            assert response.status_code == 200
            deadline = time.monotonic() + 5
            while watchers() != 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert watchers() == 1
    deadline = time.monotonic() + 5
    while watchers() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watchers() == 0


def test_table_watch_for_kubectl_get_w(api_server: ApiServer) -> None:
    with api_server.client() as client:
        client.post(ISVCS, json=isvc("first"))
        rv = client.get(ISVCS).json()["metadata"]["resourceVersion"]
        threading.Timer(0.2, lambda: api_server.call(
            lambda db: db.create(catalog.INFERENCE_SERVICE, isvc("late")))).start()
        with client.stream("GET", ISVCS, params={"watch": "true", "resourceVersion": rv},
                           headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
                           ) as response:
            line = next(line for line in response.iter_lines() if line)
    event = orjson.loads(line)
    assert event["type"] == "ADDED"
    assert event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][0] == "late"


def test_ending_watches_finishes_open_streams(api_server: ApiServer) -> None:
    """`modelplane up` ends watches before stopping the server, so shutdown never waits."""
    with api_server.client() as client:
        with client.stream("GET", ISVCS, params={"watch": "true"}) as response:
            until_watching = time.monotonic() + 5
            while api_server.call(lambda db: db.watchers) != 1:
                assert time.monotonic() < until_watching
                time.sleep(0.02)
            api_server.call(lambda db: db.end_watches())
            assert list(response.iter_lines()) == []
