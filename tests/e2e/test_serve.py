"""`modelplane serve` as a user runs it: the README's commands, as subprocesses."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from modelplane.server.settings import ServerSettings
from tests.support.process import ServeProcess, run_cli


def test_serves_the_readme_example(iris_dir: Path, tmp_path: Path) -> None:
    args = ["--model-name", "sklearn-iris", "--storage-uri", str(iris_dir)]
    with ServeProcess(
        *args, "--http-port", "0", "--grpc-port", "0", "--cache-dir", str(tmp_path)
    ) as server:
        server.wait_ready()
        response = httpx.post(
            f"{server.url}/v1/models/sklearn-iris:predict",
            json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
        )
        assert response.status_code == 200
        assert response.json() == {"predictions": [0]}
        assert server.terminate() == 0
    assert re.search(r'"POST /v1/models/sklearn-iris:predict" 200 .* request_id=\w+', server.output)


def test_every_option_reads_an_environment_variable(iris_dir: Path, tmp_path: Path) -> None:
    env = {
        "MODELPLANE_MODEL_NAME": "from-env",
        "MODELPLANE_STORAGE_URI": str(iris_dir),
        "MODELPLANE_HTTP_PORT": "0",
        "MODELPLANE_GRPC_PORT": "-1",
        "MODELPLANE_CACHE_DIR": str(tmp_path),
        "MODELPLANE_ACCESS_LOG": "false",
    }
    with ServeProcess(env=env) as server:
        server.wait_ready()
        assert server.grpc_port is None
        assert httpx.get(f"{server.url}/v1/models").json() == {"models": ["from-env"]}
        assert server.terminate() == 0
    assert "modelplane.access" not in server.output


def test_help_documents_every_option_and_its_variable() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for name in ServerSettings.model_fields:
        assert "--" + name.replace("_", "-") in result.stdout
        assert "MODELPLANE_" + name.upper() in result.stdout


def test_binds_loopback_unless_told_otherwise() -> None:
    assert ServerSettings().host == "127.0.0.1"
    assert (ServerSettings().http_port, ServerSettings().grpc_port) == (8080, 8081)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage-uri", "/nonexistent/model"], "/nonexistent/model"),
        (["--model-class", "no_such_module:Model"], "no_such_module"),
        ([], "nothing to serve"),
        (["--storage-uri", ".", "--http-port", "99999"], "--http-port"),
    ],
)
def test_bad_configuration_exits_with_a_clear_message(args: list[str], message: str) -> None:
    result = run_cli("serve", "--http-port", "0", "--grpc-port", "0", *args)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output
    assert "Traceback" not in output


def test_sigterm_drains_in_flight_requests_then_unloads(tmp_path: Path) -> None:
    entered, stopped = tmp_path / "entered", tmp_path / "stopped"
    env = {"MODELPLANE_TEST_ENTERED": str(entered), "MODELPLANE_TEST_STOPPED": str(stopped)}
    args = ["--model-name", "slow", "--model-class", "tests.e2e.slow_model:SlowModel"]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "0", env=env) as server:
        server.wait_ready()
        result: dict[str, httpx.Response] = {}

        def slow_request() -> None:
            result["response"] = httpx.post(
                f"{server.url}/v1/models/slow:predict", json={"seconds": 1.5}, timeout=30
            )

        client = threading.Thread(target=slow_request)
        client.start()
        deadline = time.monotonic() + 30
        while not entered.exists():  # poll for the request to reach the model
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not stopped.exists()
        assert server.terminate() == 0
        client.join(30)
    assert result["response"].status_code == 200
    assert result["response"].json() == {"predictions": [1.5]}
    assert stopped.read_text() == "stopped"


def _pids(output: str, what: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"\[(\d+)\] {what}", output)]


def test_workers_share_the_ports_and_a_crashed_worker_comes_back(iris_dir: Path) -> None:
    args = ["--model-name", "iris", "--storage-uri", str(iris_dir), "--workers", "2"]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "0") as server:
        server.wait_ready()
        server.wait_for_line("is ready", count=2)  # both workers loaded the model
        body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        for _ in range(40):  # a new connection each time: the kernel spreads them
            answer = httpx.post(f"{server.url}/v1/models/iris:predict", json=body)
            assert answer.json() == {"predictions": [0]}
        server.wait_for_line(r'"POST /v1/models/iris:predict" 200', count=40)
        predicted = re.findall(r"\[(\d+)\] modelplane.access: .*:predict", server.output)
        assert len(set(predicted)) == 2

        victim = _pids(server.output, "modelplane.server.runner: serving REST")[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_for_line(r"exited with -9; restarting")
        server.wait_for_line("is ready", count=3)  # the new worker loaded the model too
        for _ in range(10):
            answer = httpx.post(f"{server.url}/v1/models/iris:predict", json=body)
            assert answer.json() == {"predictions": [0]}
        assert server.terminate() == 0
    assert server.output.count("modelplane.server.runner: stopped") == 2


def test_a_worker_that_cannot_start_stops_the_server() -> None:
    result = run_cli(
        "serve", "--storage-uri", "/nonexistent/model", "--workers", "2",
        "--http-port", "0", "--grpc-port", "0",
    )  # fmt: skip
    assert result.returncode == 1
    assert "/nonexistent/model" in result.stdout + result.stderr


def test_workers_stop_when_the_supervisor_is_killed(iris_dir: Path) -> None:
    args = ["--model-name", "iris", "--storage-uri", str(iris_dir), "--workers", "2"]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "-1") as server:
        server.wait_ready()
        server.wait_for_line("serving REST", count=2)
        workers = _pids(server.output, "modelplane.server.runner: serving REST")
        assert len(workers) == 2
        server.proc.kill()
        server.proc.wait(10)
        for pid in workers:
            deadline = time.monotonic() + 30
            while _alive(pid):
                assert time.monotonic() < deadline, f"worker {pid} outlived its supervisor"
                time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
