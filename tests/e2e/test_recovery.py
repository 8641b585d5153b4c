"""Scale to zero and back, and what survives a crash: a user's walk through autoscaling and
durability on `modelplane up`.

The control plane here runs with short autoscaling windows (tests/support/controlplane.FAST),
settable as a user would with --stable-window and --scale-to-zero-grace.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import sklearn_isvc
from tests.support.models import IRIS_ROWS

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def replica_pids(home: Path) -> dict[str, int]:
    records = [json.loads(p.read_text()) for p in (home / "replicas").glob("*.json")]
    return {r["name"]: r["pid"] for r in records}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    except (FileNotFoundError, IndexError):
        return "Z"


def test_scale_to_zero_and_the_first_request_after(
    tmp_path: Path, models: tuple[Path, Path]
) -> None:
    with ControlPlane(tmp_path / "home") as plane:
        plane.wait_up()
        plane.apply(sklearn_isvc("iris", models[0], extra="    minReplicas: 0\n"))
        plane.wait_ready("iris")
        assert plane.predict("iris", IRIS_ROWS).status_code == 200
        # Idle past the grace period: the revision goes to zero replicas and stays Ready.
        wait_until(
            lambda: plane.revision(R1)["status"]["actualReplicas"] == 0,
            what="scale to zero",
        )
        wait_until(lambda: not replica_pids(plane.home), what="the replica to stop")
        assert plane.wait_ready("iris")
        # The activator holds the first request until a replica is up, then answers it.
        started = time.monotonic()
        answer = plane.predict("iris", IRIS_ROWS)
        cold_ms = (time.monotonic() - started) * 1000
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": [0, 2]}
        print(f"cold start from zero to the first answer: {cold_ms:.0f} ms")
        # The replica after zero is forked from the sklearn template the first one started.
        assert "forked from a warm template" in plane.output, plane.output[-3000:]
        assert plane.revision(R1)["status"]["readyReplicas"] == 1
        assert plane.terminate() == 0, plane.output


def test_kill_9_mid_rollout_loses_nothing(tmp_path: Path, models: tuple[Path, Path]) -> None:
    home = tmp_path / "home"
    v1, v2 = models
    two = "    minReplicas: 2\n"
    with ControlPlane(home) as first:
        first.wait_up()
        first.apply(sklearn_isvc("iris", v1, extra=two))
        first.wait_ready("iris")
        wait_until(lambda: first.revision(R1)["status"].get("readyReplicas") == 2, what="2 up")
        ports = (first.api_port, first.http_port, first.grpc_port)
        old = replica_pids(home)
        assert len(old) == 2
        first.apply(sklearn_isvc("iris", v2, extra=two))  # the rollout begins ...
        wait_until(
            lambda: any(name.startswith(R2) for name in replica_pids(home)),
            what="a replica of the new revision to start",
        )
        first.kill9()  # ... and the control plane dies in the middle of it
    # Its replicas outlive it: they are processes of their own, recorded under home.
    assert all(alive(pid) for pid in old.values())

    with ControlPlane(home, ports=ports) as second:
        second.wait_up()
        # Both old replicas are adopted, not stopped or restarted: same names, same pids.
        adopted = replica_pids(home)
        assert {n: p for n, p in adopted.items() if n in old} == old
        # Every resource is still there, and requests are answered.
        assert second.isvc("iris")["spec"]["predictor"]["model"]["storageUri"] == f"file://{v2}"
        assert second.predict("iris", IRIS_ROWS).status_code == 200
        # The rollout carries on to the end: the new revision takes over, the old one stops.
        wait_until(
            lambda: second.isvc("iris")["status"]["components"]["predictor"].get(
                "latestRolledoutRevision"
            )
            == R2,
            what="the rollout to finish after the restart",
        )
        answer = second.predict("iris", IRIS_ROWS)
        assert answer.status_code == 200 and answer.headers["x-modelplane-revision"] == R2
        wait_until(
            lambda: not any(alive(pid) for pid in old.values()), what="the old replicas to stop"
        )
        assert second.terminate() == 0, second.output
    assert not replica_pids(home)


def test_a_crashed_replica_is_restarted_and_counted(
    tmp_path: Path, models: tuple[Path, Path]
) -> None:
    with ControlPlane(tmp_path / "home") as plane:
        plane.wait_up()
        plane.apply(sklearn_isvc("iris", models[0]))
        plane.wait_ready("iris")
        (name, pid), = replica_pids(plane.home).items()
        os.kill(pid, 9)
        wait_until(
            lambda: plane.revision(R1)["status"].get("restarts") == 1
            and plane.revision(R1)["status"].get("readyReplicas") == 1,
            what="the replica to come back",
        )
        assert replica_pids(plane.home)[name] != pid
        assert plane.predict("iris", IRIS_ROWS).status_code == 200
        pods = plane.kubectl("get", "pods")
        row = next(line for line in pods.stdout.splitlines() if line.startswith(name))
        assert row.split()[3] == "1", pods.stdout  # RESTARTS
        assert plane.terminate() == 0, plane.output


def test_load_scales_a_revision_out_and_idle_scales_it_back(
    tmp_path: Path, models: tuple[Path, Path]
) -> None:
    extra = "    containerConcurrency: 1\n    scaleTarget: 1\n    maxReplicas: 2\n"
    with ControlPlane(tmp_path / "home") as plane:
        plane.wait_up()
        plane.apply(sklearn_isvc("iris", models[0], extra=extra))
        plane.wait_ready("iris")
        assert plane.revision(R1)["status"]["actualReplicas"] == 1
        stop = threading.Event()
        failures: list[int] = []

        def load() -> None:
            with plane.gateway() as client:
                while not stop.is_set():
                    response = client.post(
                        "/v1/models/iris:predict",
                        json={"instances": IRIS_ROWS * 200},
                        headers={"Host": "iris.default.example.com"},
                    )
                    if response.status_code != 200:
                        failures.append(response.status_code)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            # Four requests at a time against a target of one per replica: out to maxReplicas.
            wait_until(
                lambda: plane.revision(R1)["status"].get("readyReplicas") == 2,
                what="a second replica under load",
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join(60)
        assert not failures
        assert plane.revision(R1)["status"]["desiredReplicas"] == 2  # never past maxReplicas
        # Idle again: back down to minReplicas (1), not to zero.
        wait_until(
            lambda: plane.revision(R1)["status"].get("actualReplicas") == 1,
            what="scale back to minReplicas",
        )
        assert plane.terminate() == 0, plane.output
