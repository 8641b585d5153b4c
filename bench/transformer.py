"""What a transformer adds: a service's latency through its transformer against its predictor.

`python -m bench.transformer` starts `modelplane up` with one iris InferenceService (predictor
and a pass-through KServe transformer class, tests/integration/kserve_client/
kserve_transformer.py, each pinned to one replica). One client on keep-alive sends V1 requests
one at a time, alternating in rounds between the predictor's own host (`iris-predictor...`) and
the service's host (gateway -> transformer -> gateway -> predictor). Reported: p50 and p99 of
each, and the difference: the transformer's process hop, its call back through the gateway, and
its preprocess/postprocess.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import by_host

PATH = "/v1/models/iris:predict"
TARGETS = {  # name: (host, body)
    "predictor": (
        "iris-predictor.default.example.com",
        b'{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}',
    ),
    "transformer": (
        "iris.default.example.com",
        b'{"instances": [{"sepal": [6.8, 2.8], "petal": [4.8, 1.4]},'
        b' {"sepal": [6.0, 3.4], "petal": [4.5, 1.6]}]}',
    ),
}


def manifest(model_dir: Path) -> str:
    from tests.e2e.test_transformer_explainer import service

    one = "    minReplicas: 1\n    maxReplicas: 1\n"
    text = service("iris", model_dir, "v1", transformer_extra=one)
    return text.replace("  predictor:\n", "  predictor:\n" + one, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.support.models import train_sklearn

    with tempfile.TemporaryDirectory(prefix="mp-transformer-bench-") as tmp:
        work = Path(tmp)
        (work / "all.yaml").write_text(manifest(train_sklearn(work / "model")))
        proc, port = by_host.start(work, PATH, TARGETS)
        try:
            times = by_host.measure(port, PATH, TARGETS, args.requests, args.rounds)
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"\n{'target':>12}  {'p50 ms':>7}  {'p99 ms':>7}")
    pct = by_host.pct
    for name in TARGETS:
        print(f"{name:>12}  {pct(times[name], 50):>7.2f}  {pct(times[name], 99):>7.2f}")
    added = [pct(times["transformer"], q) - pct(times["predictor"], q) for q in (50, 99)]
    print(f"{'added':>12}  {added[0]:>7.2f}  {added[1]:>7.2f}")
    print(
        f"\n{os.cpu_count()} cores; one client, one request at a time, keep-alive; "
        f"{args.rounds} rounds x {args.requests} requests per target"
    )


if __name__ == "__main__":
    main()
