"""Rollouts as a KServe user runs them on `modelplane up`: a canary split, a rollback, a
promotion, a new revision under load, and a new revision that cannot load.

Each revision here serves the same iris model from a different directory, so the change of
`storageUri` makes a new revision; which revision answered is in `x-modelplane-revision`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import sklearn_isvc
from tests.support.models import IRIS_ROWS

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def traffic(plane: ControlPlane) -> dict[str, int]:
    entries = plane.isvc("iris").get("status", {}).get("components", {}).get("predictor", {})
    return {t["revisionName"]: t["percent"] for t in entries.get("traffic", [])}


def answered_by(
    plane: ControlPlane, count: int, host: str = "iris.default.example.com"
) -> Counter[str]:
    seen: Counter[str] = Counter()
    with plane.gateway() as client:
        for _ in range(count):
            response = client.post(
                "/v1/models/iris:predict",
                json={"instances": IRIS_ROWS},
                headers={"Host": host},
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"predictions": [0, 2]}
            seen[response.headers["x-modelplane-revision"]] += 1
    return seen


def test_canary_split_rollback_and_promotion(
    plane: ControlPlane, models: tuple[Path, Path]
) -> None:
    v1, v2 = models
    plane.apply(sklearn_isvc("iris", v1))
    plane.wait_ready("iris")

    # A canary: 20% to the new revision once it is ready, 80% stays on the rolled-out one.
    plane.apply(sklearn_isvc("iris", v2, extra="    canaryTrafficPercent: 20\n"))
    wait_until(lambda: traffic(plane) == {R2: 20, R1: 80}, what="a 20/80 split")
    seen = answered_by(plane, 1000)
    assert abs(seen[R2] - 200) <= 50, seen  # within 5 points of 20% (4 standard deviations)
    assert seen[R1] + seen[R2] == 1000
    status = plane.wait_ready("iris")["status"]["components"]["predictor"]
    assert status["latestReadyRevision"] == R2
    assert status["previousRolledoutRevision"] == R1
    table = plane.cli("get", "isvc", "iris").stdout.splitlines()
    assert table[1].split()[3:5] == ["80", "20"]  # PREV, LATEST

    # 0 rolls back: everything to the rolled-out revision. With KServe's tag routing on, the
    # latest revision can still be tried on a host of its own.
    tags = {"serving.kserve.io/enable-tag-routing": "true"}
    plane.apply(sklearn_isvc("iris", v2, "    canaryTrafficPercent: 0\n", annotations=tags))
    wait_until(lambda: traffic(plane) == {R2: 0, R1: 100}, what="the rollback")
    assert answered_by(plane, 50) == Counter({R1: 50})
    latest_host = "latest-iris-predictor-default.example.com"
    entries = plane.isvc("iris")["status"]["components"]["predictor"]["traffic"]
    assert {t["revisionName"]: t.get("url") for t in entries}[R2] == f"http://{latest_host}"
    assert answered_by(plane, 10, host=latest_host) == Counter({R2: 10})
    assert answered_by(plane, 10, host="prev-iris-predictor-default.example.com") == Counter(
        {R1: 10}
    )

    # Removing the percentage promotes the latest revision; the old one drains and stops.
    plane.apply(sklearn_isvc("iris", v2))
    wait_until(lambda: traffic(plane) == {R2: 100}, what="the promotion")
    assert answered_by(plane, 50) == Counter({R2: 50})
    promoted = plane.isvc("iris")["status"]["components"]["predictor"]
    assert promoted["latestRolledoutRevision"] == R2
    assert promoted["previousRolledoutRevision"] == R1
    wait_until(
        lambda: plane.revision(R1)["status"]["actualReplicas"] == 0, what=f"{R1} to stop"
    )


def test_a_rollout_under_load_fails_no_request(
    plane: ControlPlane, models: tuple[Path, Path]
) -> None:
    v1, v2 = models
    plane.apply(sklearn_isvc("iris", v1))
    plane.wait_ready("iris")
    statuses: Counter[int] = Counter()
    revisions: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=plane.url, timeout=60) as client:
            while not stop.is_set():
                response = client.post(
                    "/v1/models/iris:predict",
                    json={"instances": IRIS_ROWS},
                    headers={"Host": "iris.default.example.com"},
                )
                statuses[response.status_code] += 1
                revisions[response.headers.get("x-modelplane-revision", "?")] += 1

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: statuses.total() > 50, what="load to begin")
        plane.apply(sklearn_isvc("iris", v2))
        wait_until(lambda: traffic(plane) == {R2: 100}, what="the new revision to take over")
        wait_until(
            lambda: plane.revision(R1)["status"]["actualReplicas"] == 0, what=f"{R1} to stop"
        )
        seen_after = revisions[R2]
        wait_until(lambda: revisions[R2] > seen_after + 50, what="load on the new revision")
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert set(statuses) == {200}, statuses
    assert revisions[R1] > 0 and revisions[R2] > 0, revisions


def test_a_revision_that_cannot_load_never_takes_traffic(
    plane: ControlPlane, models: tuple[Path, Path], tmp_path: Path
) -> None:
    v1, _ = models
    plane.apply(sklearn_isvc("iris", v1))
    plane.wait_ready("iris")
    plane.apply(sklearn_isvc("iris", tmp_path / "no-such-model"))

    def failed() -> dict[str, object] | None:
        status = plane.isvc("iris")["status"]
        model = status.get("modelStatus", {})
        return model if model.get("transitionStatus") == "BlockedByFailedLoad" else None

    model_status = wait_until(failed, what="the new revision to fail")
    assert model_status["states"] == {  # type: ignore[comparison-overlap]
        "activeModelState": "Loaded",
        "targetModelState": "FailedToLoad",
    }
    failure = model_status["lastFailureInfo"]
    assert failure["reason"] == "ModelLoadFailed"  # type: ignore[index]
    assert "no-such-model" in failure["message"] and "does not exist" in failure["message"]  # type: ignore[index]
    assert traffic(plane) == {R1: 100}
    assert answered_by(plane, 20) == Counter({R1: 20})
    described = plane.cli("describe", "isvc", "iris")
    assert "does not exist" in described.stdout, described.stdout
    events_part = described.stdout.split("Events:")[1]
    assert "Warning" in events_part and "ModelLoadFailed" in events_part, described.stdout


def test_requests_for_a_model_that_cannot_load_fail_at_once_with_the_reason(
    plane: ControlPlane, tmp_path: Path
) -> None:
    plane.apply(sklearn_isvc("broken", tmp_path / "no-such-model"))

    def failed() -> dict[str, object] | None:
        model = plane.isvc("broken").get("status", {}).get("modelStatus", {})
        return model if model.get("lastFailureInfo") else None

    wait_until(failed, what="the model to fail to load")
    started = time.monotonic()
    answer = plane.predict("broken", IRIS_ROWS)
    assert answer.status_code == 503, answer.text
    assert "no-such-model" in answer.json()["error"] and "does not exist" in answer.json()["error"]
    assert time.monotonic() - started < 10  # not held for the activation timeout (120 s)
