"""Warm starts: a real template process forks real `modelplane serve` replicas.

The template for sklearn is started once for the module (its imports take seconds); every test
forks from it and talks to the replica over HTTP and gRPC, as the gateway would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from modelplane.controlplane.replicas import warm
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.controlplane import wait_until
from tests.support.models import IRIS_ROWS

pytestmark = pytest.mark.timeout(120)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _argv(iris_dir: Path, http_port: int, grpc_port: int, *extra: str) -> list[str]:
    return [
        *warm.SERVE, "--model-name=iris", f"--storage-uri={iris_dir}", "--model-format=sklearn",
        f"--http-port={http_port}", f"--grpc-port={grpc_port}", *extra,
    ]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, iris_dir: Path) -> Iterator[warm.Templates]:
    pool = warm.Templates(tmp_path_factory.mktemp("templates"))
    first = pool.fork(_argv(iris_dir, _port(), _port()), dict(os.environ), Path(os.devnull))
    assert first is None  # the first replica of a format starts the template, and spawns
    yield pool
    pool.close()


def _fork(templates: warm.Templates, argv: list[str], log: Path) -> warm.Forked:
    """Ask until the template has its imports done and answers."""
    forked: list[warm.Forked] = []

    def answered() -> bool:
        replica = templates.fork(argv, dict(os.environ), log)
        if replica is not None:
            forked.append(replica)
        return bool(forked)

    wait_until(answered, timeout=90, what="the template to fork")
    return forked[0]


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_forked_replica_serves_rest_and_grpc_and_reports_its_exit(
    templates: warm.Templates, iris_dir: Path, tmp_path: Path
) -> None:
    http_port, grpc_port = _port(), _port()
    log = tmp_path / "replica.log"
    replica = _fork(templates, _argv(iris_dir, http_port, grpc_port), log)
    started = time.monotonic()
    wait_until(lambda: _ready(http_port), timeout=30, what="the forked replica to be ready")
    print(f"fork to ready: {time.monotonic() - started:.2f} s")
    answer = httpx.post(
        f"http://127.0.0.1:{http_port}/v1/models/iris:predict", json={"instances": IRIS_ROWS}
    )
    assert answer.json() == {"predictions": [0, 2]}
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        ready = pb_grpc.GRPCInferenceServiceStub(channel).ModelReady(
            pb.ModelReadyRequest(name="iris"), timeout=10
        )
    assert ready.ready
    assert not replica.exited()
    # Its own session, as a spawned replica has: the group signal reaches it alone.
    assert os.getsid(replica.pid) == replica.pid
    replica.send(signal.SIGTERM)
    wait_until(replica.exited, timeout=30, what="the replica to exit")
    assert replica.describe_exit() == "exit code 0"
    assert "model 'iris' is ready" in log.read_text()  # its output went to its own log


def test_a_replica_that_fails_reports_its_exit_code(
    templates: warm.Templates, tmp_path: Path
) -> None:
    argv = _argv(tmp_path / "no-such-model", _port(), _port())
    replica = _fork(templates, argv, tmp_path / "replica.log")
    wait_until(replica.exited, timeout=30, what="the replica to fail")
    assert replica.describe_exit() == "exit code 1"
    assert "no-such-model" in (tmp_path / "replica.log").read_text()


def test_two_forked_replicas_draw_their_own_request_ids(
    templates: warm.Templates, iris_dir: Path, tmp_path: Path
) -> None:
    ports = [(_port(), _port()) for _ in range(2)]
    replicas = [
        _fork(templates, _argv(iris_dir, h, g), tmp_path / f"r{k}.log")
        for k, (h, g) in enumerate(ports)
    ]
    try:
        prefixes = set()
        for http_port, _ in ports:
            wait_until(lambda p=http_port: _ready(p), timeout=30, what="ready")
            rid = httpx.get(f"http://127.0.0.1:{http_port}/v2/health/live").headers["x-request-id"]
            prefixes.add(rid.rsplit("-", 1)[0])
        assert len(prefixes) == 2, prefixes
    finally:
        for replica in replicas:
            replica.send(signal.SIGKILL)
        for replica in replicas:
            wait_until(replica.exited, timeout=30, what="exit")
    assert {r.describe_exit() for r in replicas} == {"killed by SIGKILL"}


def test_what_a_template_cannot_run_is_spawned(templates: warm.Templates, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = dict(os.environ)
    custom = [sys.executable, "-m", "http.server"]
    assert templates.fork(custom, env, log) is None
    workers = _argv(tmp_path, 1, 2, "--workers=2")
    assert templates.fork(workers, env, log) is None
    torch = [*warm.SERVE, "--model-format=pytorch", f"--storage-uri={tmp_path}"]
    assert templates.fork(torch, env, log) is None
    threads = _argv(tmp_path, 1, 2)
    assert templates.fork(threads, env, log, own_env={"OMP_NUM_THREADS": "1"}) is None


def test_options_are_read_in_both_spellings() -> None:
    args = ["--model-format", "sklearn", "--workers=3", "--model-format=XGBoost"]
    assert warm.option(args, "--model-format") == "XGBoost"
    assert warm.option(args, "--workers") == "3"
    assert warm.option(args, "--http-port") is None
    assert warm.serve_args([*warm.SERVE, "--x"]) == ["--x"]
    assert warm.serve_args(["modelplane", "serve"]) is None


def test_a_template_whose_control_plane_died_during_its_imports_exits(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a control plane killed while its template was still importing
    template = subprocess.run(
        [*warm.SERVE[:-1], "template", "--socket", str(tmp_path / "t.sock"),
         "--parent", str(gone.pid)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert template.returncode == 0, template.stderr
    assert not (tmp_path / "t.sock").exists()
