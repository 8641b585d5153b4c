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
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
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


def start(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = (work / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane.cli", "up", "--home", str(work / "home"),
         "--api-port", "0", "--http-port", "0", "--grpc-port", "-1",
         "--apply", str(work / "all.yaml")],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(rb"gateway REST on http://[\d.]+:(\d+)", (work / "up.log").read_bytes())
        if found:
            port = int(found.group(1))
            try:
                if all(_call(port, *target).status_code == 200 for target in TARGETS.values()):
                    return proc, port
            except httpx.HTTPError:
                pass
        time.sleep(0.2)  # a readiness poll, not a guess
    proc.terminate()
    proc.wait(60)
    raise RuntimeError(f"the control plane did not serve:\n{(work / 'up.log').read_text()}")


def _call(port: int, host: str, body: bytes, client: httpx.Client | None = None) -> httpx.Response:
    url = f"http://127.0.0.1:{port}/v1/models/iris:predict"
    headers = {"Host": host, "content-type": "application/json"}
    if client is None:
        return httpx.post(url, content=body, headers=headers, timeout=10)
    return client.post(url, content=body, headers=headers)


def measure(port: int, requests: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in TARGETS}
    with httpx.Client(timeout=10) as client:
        for host, body in TARGETS.values():  # warm every connection and code path
            for _ in range(50):
                _call(port, host, body, client)
        for _ in range(rounds):
            for name, (host, body) in TARGETS.items():
                for _ in range(requests):
                    began = time.perf_counter()
                    answer = _call(port, host, body, client)
                    times[name].append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, answer.text
    return times


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.support.models import train_sklearn

    with tempfile.TemporaryDirectory(prefix="mp-transformer-bench-") as tmp:
        work = Path(tmp)
        (work / "all.yaml").write_text(manifest(train_sklearn(work / "model")))
        proc, port = start(work)
        try:
            times = measure(port, args.requests, args.rounds)
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"\n{'target':>12}  {'p50 ms':>7}  {'p99 ms':>7}")
    for name in TARGETS:
        print(f"{name:>12}  {_pct(times[name], 50):>7.2f}  {_pct(times[name], 99):>7.2f}")
    added = [_pct(times["transformer"], q) - _pct(times["predictor"], q) for q in (50, 99)]
    print(f"{'added':>12}  {added[0]:>7.2f}  {added[1]:>7.2f}")
    print(
        f"\n{os.cpu_count()} cores; one client, one request at a time, keep-alive; "
        f"{args.rounds} rounds x {args.requests} requests per target"
    )


if __name__ == "__main__":
    main()
