"""The store: object metadata, optimistic concurrency, selectors and watches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelplane.controlplane import errors, store
from modelplane.resources import catalog

ISVC = catalog.INFERENCE_SERVICE
CSR = catalog.CLUSTER_SERVING_RUNTIME


def _now() -> datetime:
    return datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "store.db", now=_now)


def _isvc(name: str = "iris", ns: str = "default", uri: str = "gs://a", **labels: str) -> Any:
    return {
        "apiVersion": ISVC.api_version,
        "kind": ISVC.kind,
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"predictor": {"model": {"storageUri": uri}}},
    }


def test_create_sets_metadata(db: store.Store) -> None:
    created = db.create(ISVC, _isvc())
    meta = created["metadata"]
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == db.resource_version == "1"
    assert meta["creationTimestamp"] == "2025-01-02T03:04:05Z"
    assert len(meta["uid"]) == 36
    assert db.get(ISVC, "default", "iris") == created


def test_create_twice_is_already_exists(db: store.Store) -> None:
    db.create(ISVC, _isvc())
    with pytest.raises(errors.AlreadyExists) as caught:
        db.create(ISVC, _isvc())
    assert caught.value.to_status()["code"] == 409


def test_generate_name(db: store.Store) -> None:
    obj = _isvc()
    obj["metadata"] = {"generateName": "iris-"}
    created = db.create(ISVC, obj)
    assert created["metadata"]["name"].startswith("iris-")
    assert len(created["metadata"]["name"]) == len("iris-") + 5
    assert created["metadata"]["namespace"] == "default"


def test_cluster_scoped_objects_have_no_namespace(db: store.Store) -> None:
    created = db.create(CSR, {"metadata": {"name": "rt", "namespace": "x"}, "spec": {}})
    assert "namespace" not in created["metadata"]
    assert db.get(CSR, None, "rt")["metadata"]["name"] == "rt"


def test_get_missing_is_not_found(db: store.Store) -> None:
    with pytest.raises(errors.NotFound, match=r'services\.serving\.kserve\.io "x" not found'):
        db.get(ISVC, "default", "x")


def test_replace_bumps_generation_only_on_spec_change(db: store.Store) -> None:
    created = db.create(ISVC, _isvc())
    relabeled = {**created, "metadata": {**created["metadata"], "labels": {"a": "b"}}}
    after_labels = db.replace(ISVC, relabeled)
    assert after_labels["metadata"]["generation"] == 1
    changed = db.replace(ISVC, _isvc(uri="gs://b"))
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["uid"] == created["metadata"]["uid"]
    rv = lambda o: int(o["metadata"]["resourceVersion"])  # noqa: E731
    assert rv(changed) > rv(after_labels)


def test_stale_resource_version_is_conflict(db: store.Store) -> None:
    created = db.create(ISVC, _isvc())
    db.replace(ISVC, created)
    with pytest.raises(errors.Conflict) as caught:
        db.replace(ISVC, created)
    assert caught.value.to_status()["reason"] == "Conflict"
    with pytest.raises(errors.Conflict):
        db.replace_status(ISVC, created)


def test_replace_keeps_status_and_status_keeps_spec(db: store.Store) -> None:
    db.create(ISVC, _isvc())
    with_status = db.replace_status(ISVC, {**_isvc(uri="gs://ignored"), "status": {"url": "u"}})
    assert with_status["status"] == {"url": "u"}
    assert with_status["spec"]["predictor"]["model"]["storageUri"] == "gs://a"
    assert with_status["metadata"]["generation"] == 1
    replaced = db.replace(ISVC, {**_isvc(uri="gs://b"), "status": {"url": "other"}})
    assert replaced["status"] == {"url": "u"}


def test_dry_run_stores_nothing(db: store.Store) -> None:
    db.create(ISVC, _isvc(), dry_run=True)
    assert db.list(ISVC)[0] == []
    db.create(ISVC, _isvc())
    db.replace(ISVC, _isvc(uri="gs://b"), dry_run=True)
    db.delete(ISVC, "default", "iris", dry_run=True)
    assert db.get(ISVC, "default", "iris")["spec"]["predictor"]["model"]["storageUri"] == "gs://a"


def test_list_by_namespace_and_selectors(db: store.Store) -> None:
    db.create(ISVC, _isvc("a", "default", app="x"))
    db.create(ISVC, _isvc("b", "other", app="y"))
    db.create(ISVC, _isvc("c", "other"))
    names = lambda items: [o["metadata"]["name"] for o in items]  # noqa: E731
    assert names(db.list(ISVC)[0]) == ["a", "b", "c"]
    assert names(db.list(ISVC, "other")[0]) == ["b", "c"]
    assert names(db.list(ISVC, label_selector="app")[0]) == ["a", "b"]
    assert names(db.list(ISVC, field_selector="metadata.name=c")[0]) == ["c"]
    assert db.list(ISVC)[1] == "3"
    assert db.namespaces() == ["default", "other"]


def test_delete_returns_object_and_checks_preconditions(db: store.Store) -> None:
    created = db.create(ISVC, _isvc())
    with pytest.raises(errors.Conflict):
        db.delete(ISVC, "default", "iris", uid="someone-else")
    rv = created["metadata"]["resourceVersion"]
    gone = db.delete(ISVC, "default", "iris", resource_version=rv)
    assert gone["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(errors.NotFound):
        db.delete(ISVC, "default", "iris")


async def _next(watch: store.Watch) -> store.WatchEvent:
    return await asyncio.wait_for(anext(watch), 1)


async def test_watch_from_now_and_from_resource_version(db: store.Store) -> None:
    live = db.watch(ISVC, "default")
    created = db.create(ISVC, _isvc())
    db.create(ISVC, _isvc("elsewhere", "other"))
    db.replace(ISVC, _isvc(uri="gs://b"))
    db.delete(ISVC, "default", "iris")
    events = [await _next(live) for _ in range(3)]
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert not live.pending()
    replay = db.watch(ISVC, None, resource_version=created["metadata"]["resourceVersion"])
    assert [(await _next(replay)).type for _ in range(3)] == ["ADDED", "MODIFIED", "DELETED"]
    live.close()
    assert [e async for e in live] == []


async def test_watch_selector_turns_updates_into_added_and_deleted(db: store.Store) -> None:
    watch = db.watch(ISVC, label_selector="app=x")
    db.create(ISVC, _isvc())
    db.replace(ISVC, _isvc(app="x"))
    db.replace(ISVC, _isvc(app="y"))
    assert [(await _next(watch)).type for _ in range(2)] == ["ADDED", "DELETED"]


async def test_watch_too_old_is_expired(tmp_path: Path) -> None:
    first = store.Store(tmp_path / "s.db")
    first.create(ISVC, _isvc())
    first.create(ISVC, _isvc("b"))
    first.close()
    reopened = store.Store(tmp_path / "s.db")
    with pytest.raises(errors.Expired) as caught:
        reopened.watch(ISVC, resource_version="1")
    assert caught.value.to_status()["code"] == 410
    reopened.watch(ISVC, resource_version="2").close()
    with pytest.raises(errors.BadRequest):
        reopened.watch(ISVC, resource_version="x")
