"""Resources as a KServe user sees them enforced on `modelplane up`, through kubectl and the API:
a predictor that loads past its memory limit is OOMKilled (exit 137) and restarted, the pod's
lastState and the InferenceService's lastFailureInfo say so, and a Warning event is written; a
predictor that requests more cpu than the machine has is Pending with the scheduler's reason and
never started."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.support.controlplane import ControlPlane, wait_until

APP = Path(__file__).resolve().parents[1] / "support" / "replica_app.py"


def custom(name: str, resources: str, env: str = "[]") -> str:
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
spec:
  predictor:
    containers:
      - name: kserve-container
        image: python
        command: ["{sys.executable}", "{APP}", "--port", "$(PORT)"]
        env: {env}
        resources: {resources}
"""


def pods_of(plane: ControlPlane, isvc: str) -> list[dict[str, Any]]:
    listed = plane.kubectl("get", "pods", "-l", f"serving.kserve.io/inferenceservice={isvc}",
                           "-o", "json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
    return items


def test_a_model_past_its_memory_limit_is_oomkilled_and_requests_past_the_machine_pend(
    plane: ControlPlane,
) -> None:
    hungry = '[{name: REPLICA_ALLOCATE_MB, value: "200"}]'  # holds 200 MiB, then never serves
    plane.apply(custom("hungry", "{limits: {memory: 64Mi}}", hungry))
    plane.apply(custom("greedy", '{requests: {cpu: "512"}}'))

    def oom_killed() -> dict[str, Any] | None:
        for pod in pods_of(plane, "hungry"):
            for status in pod["status"].get("containerStatuses", []):
                ended = status.get("lastState", {}).get("terminated", {})
                if ended.get("reason") == "OOMKilled" and status["restartCount"] >= 1:
                    return dict(status)  # killed, and started again after a backoff
        return None

    status = wait_until(oom_killed, 60, "the hungry replica to be OOMKilled")
    assert status["lastState"]["terminated"]["exitCode"] == 137

    def failure_info() -> dict[str, Any] | None:
        info = plane.isvc("hungry").get("status", {}).get("modelStatus", {})
        found: dict[str, Any] | None = info.get("lastFailureInfo")
        return found

    info = wait_until(failure_info, 60, "lastFailureInfo")
    assert info["reason"] == "ModelLoadFailed" and info["exitCode"] == 137
    assert info["message"].startswith("OOMKilled (exit code 137; "), info

    events = wait_until(
        lambda: [line for line in plane.kubectl("get", "events").stdout.splitlines()
                 if "Warning" in line and "OOMKilled" in line],
        60, "a Warning event naming OOMKilled",
    )  # fmt: skip
    assert any("hungry" in line for line in events), events

    (greedy,) = pods_of(plane, "greedy")
    assert greedy["status"]["phase"] == "Pending" and "containerStatuses" not in greedy["status"]
    scheduled = greedy["status"]["conditions"][0]
    assert scheduled["type"] == "PodScheduled" and scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    assert not (plane.home / "logs" / "default" / f"{greedy['metadata']['name']}.log").exists()

    def predictor_ready() -> dict[str, Any] | None:
        conditions = plane.isvc("greedy").get("status", {}).get("conditions", [])
        found = [c for c in conditions if c["type"] == "PredictorReady" and c.get("reason")]
        return found[0] if found and found[0]["reason"] != "RevisionMissing" else None

    predictor = wait_until(predictor_ready, 60, "PredictorReady to say why")
    assert predictor["reason"] == "Unschedulable", predictor
    assert predictor["message"].endswith("0/1 nodes are available: 1 Insufficient cpu."), predictor
