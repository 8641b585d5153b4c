"""The reconciler's decisions, pass by pass, with the processes and the gateway faked.

A real store (SQLite in a temporary directory) holds the desired state; the fake replica
manager says which replicas are ready and the fake gateway records the routes. No process,
no socket and no sleep: the tests drive `reconcile()` and read what it wrote.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelplane.controlplane import autoscaler, reconciler, replicas, store
from modelplane.controlplane.gateway import routes
from modelplane.controlplane.settings import UpSettings
from modelplane.resources import builtin, catalog, validation

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


class FakeReplicas:
    def __init__(self) -> None:
        self.wanted: dict[tuple[str, str], int] = {}
        self.ready: set[str] = set()  # revisions whose replicas are ready
        self.failing: dict[str, str] = {}  # revision -> failure
        self.broken = False  # replicas() raises, as a bug in one pass would

    def ensure(self, namespace: str, revision: str, template: Any, count: int) -> None:
        self.wanted[(namespace, revision)] = count

    def retain(self, keep: Any) -> None:
        for key in list(self.wanted):
            if key not in keep:
                del self.wanted[key]

    def replicas(self, namespace: str, revision: str) -> list[replicas.Replica]:
        if self.broken:
            raise RuntimeError("a bug in one pass")
        count = self.wanted.get((namespace, revision), 0)
        failure = self.failing.get(revision)
        ready = revision in self.ready and failure is None
        phase = replicas.Phase.READY if ready else replicas.Phase.STARTING
        if failure:
            phase = replicas.Phase.BACKOFF
        return [
            replicas.Replica(
                name=f"{revision}-r{i}", namespace=namespace, revision=revision,
                http_port=9000 + i, grpc_port=9100 + i, pid=100 + i, phase=phase,
                restarts=1 if failure else 0, started_at=NOW, ready=ready,
                last_failure=failure, never_ready=not ready, log_path=Path("/dev/null"),
            )
            for i in range(count)
        ]


class FakeGateway:
    def __init__(self) -> None:
        self.routes: list[routes.ServiceRoute] = []

    def set_routes(self, table: list[routes.ServiceRoute]) -> None:
        self.routes = list(table)

    def load(self) -> dict[Any, Any]:
        return {}

    def split(self, name: str = "iris") -> dict[str, int]:
        (route,) = [r for r in self.routes if r.name == name]
        return {t.revision: t.percent for t in route.targets}


@pytest.fixture
def world(tmp_path: Path) -> Any:
    objects = store.Store(tmp_path / "store.db", now=lambda: NOW)
    for runtime in builtin.cluster_runtimes():
        objects.create(catalog.CLUSTER_SERVING_RUNTIME, runtime)
    fakes, gateway = FakeReplicas(), FakeGateway()
    loop = reconciler.Reconciler(
        objects, fakes, gateway, autoscaler.Autoscaler(lambda: 0.0),  # type: ignore[arg-type]
        UpSettings(), serve_argv=("python", "-m", "modelplane.cli", "serve"),
        now=lambda: NOW, clock=lambda: 0.0,
    )  # fmt: skip
    yield objects, fakes, gateway, loop
    objects.close()


def isvc(storage: str, **predictor: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "default"},
        "spec": {"predictor": {**predictor, "model": {"modelFormat": {"name": "sklearn"},
                                                      "storageUri": storage}}},
    }  # fmt: skip
    return validation.validate(obj)[0]


def put(objects: store.Store, obj: dict[str, Any]) -> None:
    try:
        live = objects.get(catalog.INFERENCE_SERVICE, "default", "iris")
    except Exception:
        objects.create(catalog.INFERENCE_SERVICE, copy.deepcopy(obj))
        return
    objects.replace(catalog.INFERENCE_SERVICE, {**live, "spec": obj["spec"]})


def status(objects: store.Store) -> dict[str, Any]:
    result: dict[str, Any] = objects.get(catalog.INFERENCE_SERVICE, "default", "iris")["status"]
    return result


def ready(conditions: list[dict[str, Any]], kind: str = "Ready") -> str:
    return next(c["status"] for c in conditions if c["type"] == kind)


R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def test_first_revision_starts_one_replica_and_is_ready_when_it_is(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    assert fakes.wanted == {("default", R1): 1}
    assert ready(status(objects)["conditions"]) == "False"
    assert gateway.split() == {R1: 100}
    assert gateway.routes[0].targets[0].backends == ()  # the activator holds requests

    fakes.ready.add(R1)
    loop.reconcile()
    current = status(objects)
    assert ready(current["conditions"]) == "True"
    assert current["components"]["predictor"]["latestReadyRevision"] == R1
    assert [b.http_url for b in gateway.routes[0].targets[0].backends] == [
        "http://127.0.0.1:9000"
    ]
    assert gateway.routes[0].hosts[0] == "iris.default.example.com"


def test_a_new_revision_takes_over_once_ready_and_the_old_one_stops(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    put(objects, isvc("file:///m2"))
    loop.reconcile()
    assert gateway.split() == {R1: 100}
    assert fakes.wanted == {("default", R1): 1, ("default", R2): 1}
    fakes.ready.add(R2)
    loop.reconcile()
    assert gateway.split() == {R2: 100}
    assert fakes.wanted[("default", R1)] == 0
    predictor = status(objects)["components"]["predictor"]
    assert predictor["latestRolledoutRevision"] == R2
    assert predictor["previousRolledoutRevision"] == R1


def test_unchanged_spec_makes_no_revision_and_no_status_write(world: Any) -> None:
    objects, fakes, _gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    version = objects.get(catalog.INFERENCE_SERVICE, "default", "iris")["metadata"][
        "resourceVersion"
    ]
    loop.reconcile()
    loop.reconcile()
    after = objects.get(catalog.INFERENCE_SERVICE, "default", "iris")["metadata"]
    assert after["resourceVersion"] == version
    assert [r["metadata"]["name"] for r in objects.list(catalog.REVISION)[0]] == [R1]


def test_canary_splits_and_a_failing_revision_is_reported(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    put(objects, isvc("file:///missing", canaryTrafficPercent=30))
    loop.reconcile()
    fakes.failing[R2] = "exit code 1: Error: local path '/missing' does not exist"
    loop.reconcile()
    assert gateway.split() == {R1: 100}  # a failing revision takes nothing
    current = status(objects)
    assert current["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"
    assert current["modelStatus"]["lastFailureInfo"] == {
        "reason": "ModelLoadFailed",
        "message": "local path '/missing' does not exist (exit code 1)",
    }
    assert ready(current["conditions"], "PredictorReady") == "True"
    assert ready(current["conditions"], "LatestDeploymentReady") == "False"
    revision = objects.get(catalog.REVISION, "default", R2)["status"]
    assert revision["conditions"][0]["reason"] == "FailedToLoad"

    put(objects, isvc("file:///m2", canaryTrafficPercent=30))  # a fix: revision 3
    loop.reconcile()
    fakes.ready.add("iris-predictor-00003")
    loop.reconcile()
    assert gateway.split() == {"iris-predictor-00003": 30, R1: 70}


def test_no_runtime_for_the_format_is_a_status_not_a_crash(world: Any) -> None:
    objects, fakes, gateway, loop = world
    obj = isvc("s3://models/x")
    obj["spec"]["predictor"]["model"]["modelFormat"]["name"] = "pmml"
    put(objects, obj)
    loop.reconcile()
    current = status(objects)
    assert current["modelStatus"]["transitionStatus"] == "InvalidSpec"
    assert current["modelStatus"]["lastFailureInfo"]["reason"] == "NoSupportingRuntime"
    assert gateway.routes == [] and fakes.wanted == {}


def test_deleting_the_service_deletes_its_revisions_and_replicas(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    objects.delete(catalog.INFERENCE_SERVICE, "default", "iris")
    loop.reconcile()
    assert objects.list(catalog.REVISION)[0] == []
    assert fakes.wanted == {} and gateway.routes == []


def test_a_service_that_fails_to_reconcile_keeps_its_replicas_and_route(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    before = list(gateway.routes)
    fakes.broken = True
    loop.reconcile()  # logs "retry in N s" and carries on
    assert gateway.routes == before
    assert fakes.wanted == {("default", R1): 1}


def test_a_status_of_any_shape_written_through_the_api_is_replaced_not_fatal(world: Any) -> None:
    objects, fakes, gateway, loop = world
    put(objects, isvc("file:///m1"))
    live = objects.get(catalog.INFERENCE_SERVICE, "default", "iris")
    live["status"] = {"components": 1, "conditions": "x", "modelStatus": []}
    objects.replace_status(catalog.INFERENCE_SERVICE, live)
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    assert ready(status(objects)["conditions"]) == "True"
    assert gateway.split() == {R1: 100}


def test_an_idle_min_zero_revision_goes_to_zero_without_ever_seeing_a_request(
    tmp_path: Path,
) -> None:
    clock = [0.0]
    objects = store.Store(tmp_path / "store.db", now=lambda: NOW)
    for runtime in builtin.cluster_runtimes():
        objects.create(catalog.CLUSTER_SERVING_RUNTIME, runtime)
    fakes, gateway = FakeReplicas(), FakeGateway()
    settings = UpSettings(stable_window=4, panic_window=1, scale_to_zero_grace=2, tick=1)
    loop = reconciler.Reconciler(
        objects, fakes, gateway, autoscaler.Autoscaler(lambda: clock[0]),  # type: ignore[arg-type]
        settings, serve_argv=("python", "-m", "modelplane.cli", "serve"),
        now=lambda: NOW, clock=lambda: clock[0],
    )  # fmt: skip
    put(objects, isvc("file:///m1", minReplicas=0))
    loop.reconcile()
    fakes.ready.add(R1)
    for _ in range(20):  # twenty idle ticks of a second: no request ever comes
        clock[0] += 1
        loop.reconcile()
    assert fakes.wanted[("default", R1)] == 0
    assert ready(status(objects)["conditions"]) == "True"  # at zero, still Ready
    objects.close()


def test_tag_routing_reaches_each_tagged_revision_whatever_the_split(world: Any) -> None:
    objects, fakes, gateway, loop = world

    def tagged(storage: str, **predictor: Any) -> dict[str, Any]:
        obj = isvc(storage, **predictor)
        obj["metadata"]["annotations"] = {reconciler.TAG_ROUTING: "true"}
        return obj

    put(objects, tagged("file:///m1"))
    loop.reconcile()
    fakes.ready.add(R1)
    loop.reconcile()
    put(objects, tagged("file:///m2", canaryTrafficPercent=0))  # tried by tag, no traffic yet
    loop.reconcile()
    fakes.ready.add(R2)
    loop.reconcile()
    assert gateway.split() == {R1: 100}
    assert gateway.split("latest-iris") == {R2: 100}
    assert gateway.split("prev-iris") == {R1: 100}
    latest = next(r for r in gateway.routes if r.name == "latest-iris")
    assert latest.hosts[0] == "latest-iris-predictor-default.example.com"
    assert fakes.wanted[("default", R2)] == 1  # kept up: its tag routes to it
    traffic = status(objects)["components"]["predictor"]["traffic"]
    urls = {t["revisionName"]: t.get("url") for t in traffic}
    assert urls == {
        R2: "http://latest-iris-predictor-default.example.com",
        R1: "http://prev-iris-predictor-default.example.com",
    }
