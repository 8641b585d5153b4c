"""A synchronous predict must not block the event loop.

While a 2-second synchronous predict runs (sleeping, or burning CPU in pure Python), health and
metadata requests still answer in under 50 ms, over REST and gRPC: the server runs sync model
code in its thread pool, never on the loop that answers everything else. The slow request is
known to be in flight because the model sets an event on entry; nothing waits on a guessed time.

The quick requests are timed by a client in its own process. A client thread in the test process
would compete for the GIL with the CPU-bound predict too, and so time its own waits as well as
the server's: measured that way the CPU-bound case took up to 80 ms now and then, while the same
requests from another process stayed under about 25 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from modelplane.core.model import Headers, Model
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings

PREDICT_SECONDS = 2.0
BUDGET_SECONDS = 0.050

# Warms its connections, says "warm", waits for a line on stdin, then times each check once on
# its warm connection and prints {check: seconds} as JSON.
PROBE = r"""
import json, sys, time
import grpc, httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc

http_url, grpc_target, model = sys.argv[1:4]
paths = ["/v2/health/live", "/v2/health/ready", f"/v2/models/{model}"]
http = httpx.Client(base_url=http_url, timeout=30)
channel = grpc.insecure_channel(grpc_target)
stub = pb_grpc.GRPCInferenceServiceStub(channel)
health = health_pb2_grpc.HealthStub(channel)
SERVING = health_pb2.HealthCheckResponse.SERVING
checks = {path: (lambda path=path: http.get(path).status_code == 200) for path in paths}
checks["grpc ServerLive"] = lambda: stub.ServerLive(pb.ServerLiveRequest(), timeout=30).live
checks["grpc Health.Check"] = lambda: (
    health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30).status == SERVING
)
for check in checks.values():
    assert check()
print("warm", flush=True)
sys.stdin.readline()
timings = {}
for name, check in checks.items():
    start = time.perf_counter()
    ok = check()
    timings[name] = time.perf_counter() - start
    assert ok, name
print(json.dumps(timings), flush=True)
"""


class SlowModel(Model):
    """A sync predict that takes PREDICT_SECONDS; `entered` and `left` bracket each call."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = threading.Event()
        self.left = threading.Event()

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        self.entered.set()
        try:
            self.work()
        finally:
            self.left.set()
        return [1.0]

    def work(self) -> None:
        raise NotImplementedError

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, 1]}]


class Sleeper(SlowModel):
    def work(self) -> None:
        time.sleep(PREDICT_SECONDS)


class Burner(SlowModel):
    """Holds the GIL as much as pure Python can: the interpreter still switches threads every
    `sys.getswitchinterval()` (5 ms)."""

    def work(self) -> None:
        deadline = time.perf_counter() + PREDICT_SECONDS
        spins = 0
        while time.perf_counter() < deadline:
            spins += 1
        assert spins > 0


@pytest.fixture(scope="module")
def slow_models() -> dict[str, SlowModel]:
    return {"sleeper": Sleeper("sleeper"), "burner": Burner("burner")}


@pytest.fixture(scope="module")
def server(slow_models: dict[str, SlowModel]) -> Iterator[RunningServer]:
    with serving(server_settings(), models=list(slow_models.values())) as running:
        yield running


@pytest.fixture
def probe(server: RunningServer, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    model_name = request.node.callspec.params["model_name"]
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE, server.http_url, server.grpc_target, model_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "warm", "the probe client did not start"
        yield process
    finally:
        process.kill()
        process.wait(30)


@pytest.mark.parametrize("model_name", ["sleeper", "burner"])
def test_health_and_metadata_answer_quickly_during_a_slow_sync_predict(
    server: RunningServer,
    slow_models: dict[str, SlowModel],
    probe: subprocess.Popen[str],
    model_name: str,
) -> None:
    model = slow_models[model_name]
    model.entered.clear()
    model.left.clear()
    assert probe.stdin is not None and probe.stdout is not None
    with (
        httpx.Client(base_url=server.http_url, timeout=30) as slow_client,
        ThreadPoolExecutor(1) as pool,
    ):
        body = {"instances": [[1.0]]}
        slow = pool.submit(slow_client.post, f"/v1/models/{model_name}:predict", json=body)
        assert model.entered.wait(30), "the slow predict never started"
        probe.stdin.write("go\n")
        probe.stdin.flush()
        timings: dict[str, float] = json.loads(probe.stdout.readline())
        still_running = not model.left.is_set()
        response = slow.result(30)
    assert response.status_code == 200
    assert response.json() == {"predictions": [1.0]}
    assert still_running, "the slow predict ended before the checks did; they proved nothing"
    assert set(timings) == {
        "/v2/health/live",
        "/v2/health/ready",
        f"/v2/models/{model_name}",
        "grpc ServerLive",
        "grpc Health.Check",
    }
    took = {check: f"{seconds * 1000:.1f} ms" for check, seconds in timings.items()}
    assert all(seconds < BUDGET_SECONDS for seconds in timings.values()), took
