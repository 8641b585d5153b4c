"""What an InferenceGraph adds per step: a graph's latency against calling its service directly.

`python -m bench.graph` starts `modelplane up` with one iris InferenceService pinned to one
replica and three graphs over it: a Sequence of 1 step, a Sequence of 3 steps (each
`$request`, so every step does the same work) and an Ensemble of 3 steps. One client on
keep-alive sends V1 requests one at a time, alternating between the service itself (through the
gateway, with its Host header: what a client of the service pays) and each graph, in rounds.
Reported: p50 and p99 of each, and per step, (graph - steps x direct) / steps: the router's
hop and the gateway's second hop, on top of the service's own time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import by_host

PATH = "/v1/models/sklearn-iris:predict"
BODY = b'{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'
STEPS = {"direct": 1, "seq-1": 1, "seq-3": 3, "ensemble-3": 3}
TARGETS = {
    name: (f"{'sklearn-iris' if name == 'direct' else name}.default.example.com", BODY)
    for name in STEPS
}


def _graph(name: str, router: str, steps: int) -> str:
    listed = "".join(
        f"      - serviceName: sklearn-iris\n        name: s{i}\n" for i in range(steps)
    )
    return f"""\
---
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata:
  name: {name}
spec:
  nodes:
    root:
      routerType: {router}
      steps:
{listed}"""


def manifests(model_dir: Path) -> str:
    from tests.support.manifests import sklearn_isvc

    one = "    minReplicas: 1\n    maxReplicas: 1\n"
    return (
        sklearn_isvc("sklearn-iris", model_dir, one)
        + _graph("seq-1", "Sequence", 1)
        + _graph("seq-3", "Sequence", 3)
        + _graph("ensemble-3", "Ensemble", 3)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.support.models import train_sklearn

    with tempfile.TemporaryDirectory(prefix="mp-graph-bench-") as tmp:
        work = Path(tmp)
        (work / "all.yaml").write_text(manifests(train_sklearn(work / "model")))
        proc, port = by_host.start(work, PATH, TARGETS)
        try:
            times = by_host.measure(port, PATH, TARGETS, args.requests, args.rounds)
        finally:
            proc.terminate()
            proc.wait(60)
    direct50, direct99 = by_host.pct(times["direct"], 50), by_host.pct(times["direct"], 99)
    print(f"\n{'target':>10}  {'steps':>5}  {'p50 ms':>7}  {'p99 ms':>7}  "
          f"{'added/step p50':>14}  {'added/step p99':>14}")  # fmt: skip
    for name, steps in STEPS.items():
        p50, p99 = by_host.pct(times[name], 50), by_host.pct(times[name], 99)
        # An Ensemble's steps run at once: its steps cost one step's time, not `steps`.
        served = 1 if name.startswith("ensemble") else steps
        add50 = (p50 - served * direct50) / steps
        add99 = (p99 - served * direct99) / steps
        extra = "" if name == "direct" else f"{add50:>14.2f}  {add99:>14.2f}"
        print(f"{name:>10}  {steps:>5}  {p50:>7.2f}  {p99:>7.2f}  {extra}")
    print(f"\n{os.cpu_count()} cores; one client, one request at a time, keep-alive; "
          f"{args.rounds} rounds x {args.requests} requests per target")


if __name__ == "__main__":
    main()
