"""`modelplane up --backend ray` on a real Ray cluster of several nodes on this machine.

Each Ray node listens on its own loopback address (127.0.0.2 is the head, .3, .4 the others)
with one CPU, and every predictor asks for one CPU, so a node holds one replica: where replicas
run, what is Pending and why, and how throughput grows with nodes are all seen from outside,
through the gateway, `kubectl` and the control plane's own log.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import sklearn_isvc
from tests.support.models import IRIS_ROWS
from tests.support.process import ROOT
from tests.support.ray_cluster import RayCluster

pytestmark = pytest.mark.timeout(400)

TWO = "    minReplicas: 2\n    maxReplicas: 2\n"


@pytest.fixture
def cluster() -> Iterator[RayCluster]:
    running = RayCluster(cpus_per_node=1)
    try:
        running.start_head()
        yield running
    finally:
        running.stop()


@pytest.fixture
def ray_plane(tmp_path: Path, cluster: RayCluster) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path / "home", "--backend", "ray", "--ray-address", cluster.address) as p:
        p.wait_up()
        yield p
        assert p.terminate() == 0, p.output
        # A stopped control plane stops its replicas, wherever they ran: no record is left.
        assert not list((tmp_path / "home" / "replicas").glob("*.json"))


def pods(plane: ControlPlane, isvc: str) -> list[dict[str, Any]]:
    with plane.api() as client:
        answer = client.get(
            "/api/v1/namespaces/default/pods",
            params={"labelSelector": f"serving.kserve.io/inferenceservice={isvc}"},
        )
    answer.raise_for_status()
    return list(answer.json()["items"])


def ready_pods(plane: ControlPlane, isvc: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(plane, isvc)
        if p["status"]["phase"] == "Running" and p["status"]["containerStatuses"][0]["ready"]
    ]


def slow_isvc(name: str, replicas: int, seconds: float) -> str:
    """A model that answers one request at a time, `seconds` each, asking for one CPU."""
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
spec:
  predictor:
    minReplicas: {replicas}
    maxReplicas: {replicas}
    containerConcurrency: 1
    containers:
      - name: kserve-container
        image: modelplane
        command: ["modelplane", "serve"]
        args: ["--model-name={name}", "--model-class=tests.e2e.slow_model:SlowModel"]
        env:
          - name: PYTHONPATH
            value: "{ROOT}"
        resources:
          requests: {{cpu: "1", memory: 256Mi}}
          limits: {{cpu: "1", memory: 256Mi}}
"""


def throughput(plane: ControlPlane, name: str, seconds: float, clients: int = 6) -> float:
    """Requests per second through the gateway, `clients` at a time, over `seconds`."""
    done: list[int] = []
    failed: list[str] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        count = 0
        with httpx.Client(base_url=plane.url, timeout=60) as http:
            while time.monotonic() < stop:
                answer = http.post(
                    f"/v1/models/{name}:predict",
                    json={"seconds": 0.2},
                    headers={"Host": f"{name}.default.example.com"},
                )
                if answer.status_code != 200:
                    failed.append(answer.text)
                elif time.monotonic() <= stop:  # answered within the window
                    count += 1
        done.append(count)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    assert not failed, failed[:3]
    return sum(done) / seconds


def test_pending_until_a_node_joins_and_throughput_grows_with_nodes(
    ray_plane: ControlPlane, cluster: RayCluster
) -> None:
    ray_plane.apply(slow_isvc("slow", 3, 0.2))
    wait_until(lambda: len(ready_pods(ray_plane, "slow")) == 1, what="one replica on the head")

    def unschedulable() -> list[str]:
        return [
            c["message"]
            for p in pods(ray_plane, "slow")
            for c in p["status"]["conditions"]
            if c["type"] == "PodScheduled" and c["status"] == "False"
        ]

    reasons = wait_until(lambda: len(unschedulable()) == 2 and unschedulable(), what="2 Pending")
    assert all("Insufficient cpu" in reason for reason in reasons), reasons
    table = ray_plane.kubectl("get", "pods", "-o", "wide").stdout
    assert table.count("Pending") == 2 and "127.0.0.2" in table, table

    one = throughput(ray_plane, "slow", 4)
    cluster.add_node()
    wait_until(lambda: len(ready_pods(ray_plane, "slow")) == 2, what="a Pending replica placed")
    two = throughput(ray_plane, "slow", 4)
    cluster.add_node()
    wait_until(lambda: len(ready_pods(ray_plane, "slow")) == 3, what="the last one placed")
    three = throughput(ray_plane, "slow", 4)
    nodes = {p["spec"]["nodeName"] for p in ready_pods(ray_plane, "slow")}
    assert nodes == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    print(f"throughput: 1 node {one:.1f}/s, 2 nodes {two:.1f}/s, 3 nodes {three:.1f}/s")
    assert two >= 1.7 * one, (one, two)
    assert three >= 2.4 * one, (one, three)


def test_a_node_lost_under_load_is_replaced_and_the_service_keeps_answering(
    ray_plane: ControlPlane, cluster: RayCluster, tmp_path: Path
) -> None:
    from tests.support.models import train_sklearn

    model = train_sklearn(tmp_path / "iris")
    cluster.add_node()
    cluster.add_node()
    # One CPU each, on nodes of one CPU: the two replicas cannot share a node (the built-in
    # runtimes ask for nothing, so without this Ray may place both on one).
    one_cpu = '      resources: {requests: {cpu: "1"}}\n      storageUri:'
    ray_plane.apply(sklearn_isvc("iris", model, TWO).replace("      storageUri:", one_cpu))
    ray_plane.wait_ready("iris")
    placed = wait_until(
        lambda: len(ready_pods(ray_plane, "iris")) == 2 and ready_pods(ray_plane, "iris"),
        what="2 replicas",
    )
    nodes = {p["spec"]["nodeName"] for p in placed}
    assert len(nodes) == 2, nodes  # spread: one per node
    for pod in placed:
        assert pod["status"]["podIP"] == pod["spec"]["nodeName"] != "127.0.0.1"
    victim = next(p for p in placed if p["spec"]["nodeName"] != "127.0.0.2")

    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=ray_plane.url, timeout=60) as http:
            while not stop.is_set():
                answer = http.post(
                    "/v1/models/iris:predict",
                    json={"instances": IRIS_ROWS},
                    headers={"Host": "iris.default.example.com"},
                )
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    assert answer.json() == {"predictions": [0, 2]}

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: statuses[200] > 50, what="load flowing")
        killed_at = time.monotonic()
        cluster.kill_node(victim["spec"]["nodeName"])

        def replaced() -> list[dict[str, Any]] | None:
            ready = ready_pods(ray_plane, "iris")
            again = [
                p
                for p in ready
                if p["metadata"]["name"] == victim["metadata"]["name"]
                and p["spec"]["nodeName"] != victim["spec"]["nodeName"]
            ]
            return ready if len(ready) == 2 and again else None

        after = wait_until(replaced, timeout=120, what="the lost replica running again")
        replaced_in = time.monotonic() - killed_at
        before_check = statuses[200]
        wait_until(lambda: statuses[200] > before_check + 50, what="load still answered")
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    print(f"node lost -> replacement ready in {replaced_in:.1f}s; answers {dict(statuses)}")
    lost = {p["spec"]["nodeName"] for p in after}
    assert victim["spec"]["nodeName"] not in lost  # replaced on a node that is left
    # Only requests in flight on the lost node may fail (one per load thread at most).
    assert sum(n for code, n in statuses.items() if code != 200) <= len(workers), statuses
    ray_plane.wait_ready("iris")
    events = ray_plane.kubectl("get", "events").stdout
    assert "lost with its node" in events, events  # the restart's event says why


def test_a_restarted_control_plane_adopts_the_ray_actors(
    tmp_path: Path, cluster: RayCluster
) -> None:
    from tests.support.models import train_sklearn

    model = train_sklearn(tmp_path / "iris")
    home = tmp_path / "home"
    args = ("--backend", "ray", "--ray-address", cluster.address)
    with ControlPlane(home, *args) as first:
        first.wait_up()
        first.apply(sklearn_isvc("iris", model))
        first.wait_ready("iris")
        (before,) = ready_pods(first, "iris")
        first.kill9()
    with ControlPlane(home, *args) as second:
        second.wait_up()
        second.wait_ready("iris")
        wait_until(lambda: ready_pods(second, "iris"), what="the adopted replica ready")
        (after,) = ready_pods(second, "iris")
        assert after["metadata"]["name"] == before["metadata"]["name"]
        assert after["status"]["podIP"] == before["status"]["podIP"]
        assert second.predict("iris", IRIS_ROWS).json() == {"predictions": [0, 2]}
        assert "adopted replica" in second.output
        assert second.terminate() == 0
