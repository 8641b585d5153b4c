"""Sequential latency through `modelplane up`'s gateway, by Host header: the benches that
compare one service's hosts (`bench.graph`, `bench.transformer`) start and drive it here.

`start` runs `modelplane up --apply work/all.yaml` and waits until every target answers;
`measure` sends V1 requests one at a time on one keep-alive client, each target in turn, in
rounds, after 50 unmeasured requests per target.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
Target = tuple[str, bytes]  # the Host header and the request body


def start(
    work: Path, path: str, targets: Mapping[str, Target]
) -> tuple[subprocess.Popen[bytes], int]:
    """`modelplane up` with work/all.yaml applied; its gateway port once every target answers."""
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
                if all(call(port, path, *target).status_code == 200 for target in targets.values()):
                    return proc, port
            except httpx.HTTPError:
                pass
        time.sleep(0.2)  # a readiness poll, not a guess
    proc.terminate()
    proc.wait(60)
    raise RuntimeError(f"the control plane did not serve:\n{(work / 'up.log').read_text()}")


def call(
    port: int, path: str, host: str, body: bytes, client: httpx.Client | None = None
) -> httpx.Response:
    url = f"http://127.0.0.1:{port}{path}"
    headers = {"Host": host, "content-type": "application/json"}
    if client is None:
        return httpx.post(url, content=body, headers=headers, timeout=10)
    return client.post(url, content=body, headers=headers)


def measure(
    port: int, path: str, targets: Mapping[str, Target], requests: int, rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per request, by target name."""
    times: dict[str, list[float]] = {name: [] for name in targets}
    with httpx.Client(timeout=10) as client:
        for target in targets.values():  # warm every connection and code path
            for _ in range(50):
                call(port, path, *target, client)
        for _ in range(rounds):
            for name, target in targets.items():
                for _ in range(requests):
                    began = time.perf_counter()
                    answer = call(port, path, *target, client)
                    times[name].append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, answer.text
    return times


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]
