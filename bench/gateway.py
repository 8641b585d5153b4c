"""The gateway's cost: the same replica driven directly and through `modelplane up`'s gateway.

`python -m bench.gateway` starts a control plane with one iris InferenceService pinned to one
replica (minReplicas = maxReplicas = 1), then runs the same wrk load (V1, 2 rows) against the
replica's private port and against the gateway with the service's Host header, alternating,
several rounds each. The control plane and its replica share core 0; wrk runs on core 1. The
report is one table: requests per second and latency both ways, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import load, payloads

ROOT = Path(__file__).resolve().parents[1]
HOST = "Host: sklearn-iris.default.example.com"
PATH = "/v1/models/sklearn-iris:predict"


def start(work: Path, model_dir: Path) -> tuple[subprocess.Popen[str], int, int]:
    """A control plane on core 0 with the example applied; its gateway port and replica port."""
    from tests.support.manifests import sklearn_isvc

    one_replica = "    minReplicas: 1\n    maxReplicas: 1\n"
    (work / "isvc.yaml").write_text(sklearn_isvc("sklearn-iris", model_dir, one_replica))
    log = (work / "up.log").open("w")
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "modelplane.cli", "up",
         "--home", str(work / "home"), "--api-port", "0", "--http-port", "0",
         "--grpc-port", "-1", "--apply", str(work / "isvc.yaml")],
        stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    gateway = replica = 0
    while time.monotonic() < deadline and proc.poll() is None:
        text = (work / "up.log").read_text()
        found = re.search(r"gateway REST on http://[\d.]+:(\d+)", text)
        records = list((work / "home" / "replicas").glob("*.json"))
        if found and records:
            gateway = int(found.group(1))
            replica = int(json.loads(records[0].read_text())["http_port"])
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{gateway}/v1/models/sklearn-iris:predict",
                    json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
                    timeout=5,
                )
                if answer.status_code == 200:
                    return proc, gateway, replica
            except httpx.HTTPError:
                pass
        time.sleep(0.2)  # a readiness poll, not a guess
    proc.terminate()  # SIGTERM: the control plane stops its replicas (SIGKILL would leave them)
    proc.wait(60)
    raise RuntimeError(f"the control plane did not serve:\n{(work / 'up.log').read_text()}")


def _latency(median: dict[str, float]) -> str:
    return f"{median['p50_ms']:.1f}/{median['p99_ms']:.1f}"


def compare(
    model_dir: Path, work: Path, connections: list[int], seconds: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Per connection count: the direct and the routed runs' rounds and medians (the bench's
    results.json shape), direct and routed alternating round by round."""
    body = payloads.Bodies(work / "bodies", model_dir / "model.joblib").get("v1", rows=2)
    routed_body = payloads.Body(body.path, body.content_type, [HOST])
    proc, gateway, replica = start(work, model_dir)
    found: dict[str, dict[str, Any]] = {}
    try:
        for conns in connections:
            direct, routed = [], []
            for _ in range(rounds):
                direct.append(load.wrk(replica, PATH, body, conns, seconds, 1))
                routed.append(load.wrk(gateway, PATH, routed_body, conns, seconds, 1))
            found[f"c{conns}"] = {
                way: {"rounds": [r.as_dict() for r in runs], "median": _median(runs)}
                for way, runs in (("direct", direct), ("gateway", routed))
            }
    finally:
        proc.terminate()  # SIGTERM: the control plane stops its replicas
        proc.wait(60)
    return found


def _median(runs: list[load.Load]) -> dict[str, float]:
    return {
        "rps": statistics.median(r.rps for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "errors": sum(r.error_count for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.support.models import train_sklearn  # the same iris model the tests train

    with tempfile.TemporaryDirectory(prefix="mp-gw-bench-") as tmp:
        work = Path(tmp)
        model_dir = train_sklearn(work / "model")
        found = compare(model_dir, work, args.connections, args.seconds, args.rounds)
    print(f"\n{'conns':>5}  {'direct req/s':>12}  {'p50/p99 ms':>13}  "
          f"{'gateway req/s':>13}  {'p50/p99 ms':>13}  {'ratio':>6}  errors")  # fmt: skip
    for key, both in found.items():
        d, g = both["direct"]["median"], both["gateway"]["median"]
        print(f"{key[1:]:>5}  {d['rps']:>12,.0f}  {_latency(d):>13}  {g['rps']:>13,.0f}  "
              f"{_latency(g):>13}  {g['rps'] / d['rps']:>6.2f}  "
              f"{d['errors'] + g['errors']}")  # fmt: skip
    print(
        f"\n{os.cpu_count()} cores; control plane + replica on core 0, wrk on core 1; "
        f"median of {args.rounds} x {args.seconds} s rounds"
    )


if __name__ == "__main__":
    main()
