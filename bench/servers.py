"""Start and stop each server under test, pinned to one core, and watch it.

A `Launch` says how to start one server in one configuration (its command line, ports and the
request that proves it answers); `Server` runs it: `taskset -c CORE`, its own process group
(so that stopping it stops its workers too), its output in a log file, its memory sampled
from /proc for its whole life. Readiness is never a guessed sleep: the bench polls until the
server gives a correct answer.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import env, procs
from bench.payloads import IRIS_MODEL, TENSOR_MODEL, Body

GPT2_MODEL = "tiny-gpt2"
VLLM_MODELPLANE = env.ROOT / ".venv-vllm" / "bin" / "modelplane"  # `make vllm`

Check = Callable[[int, bytes], str | None]  # (status, body) -> None when right, else why not


@dataclass
class Launch:
    """One server in one configuration."""

    peer: str  # modelplane, kserve, mlserver, bare
    config: str  # iris, batch, tensor, onnx, gpt2, echo, predict
    argv: list[str]
    http_port: int
    grpc_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.peer}/{self.config}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- launches ---------------------------------------------------------------------------------


def modelplane(config: str, p: env.Paths, extra: list[str], server_core: int = 0) -> Launch:
    http, grpc = free_port(), free_port()
    argv = [str(env.ROOT / ".venv" / "bin" / "modelplane"), "serve"]
    if config == "tensor":
        argv += ["--model-name", TENSOR_MODEL, "--model-class", "bench.models:TensorMean"]
    elif config == "onnx":
        # One intra-op thread: the server is pinned to one core, and ONNX Runtime would
        # otherwise start a thread per core of the machine, all on that core.
        argv += ["--model-name", TENSOR_MODEL, "--storage-uri", str(p.onnx_dir)]
        argv += ["--threads", "1"]
    elif config == "gpt2":
        argv += ["--model-name", GPT2_MODEL, "--storage-uri", str(p.gpt2_dir)]
        argv += ["--device", "cpu", "--threads", "1", "--backend", "transformers"]
    elif config == "gpt2-vllm":
        argv[0] = str(VLLM_MODELPLANE)
        argv += ["--model-name", GPT2_MODEL, "--storage-uri", str(p.gpt2_dir)]
        argv += ["--threads", "1", "--backend", "vllm"]
    else:
        argv += ["--model-name", IRIS_MODEL, "--storage-uri", str(p.iris_dir)]
    argv += ["--http-port", str(http), "--grpc-port", str(grpc), *extra]
    # PYTHONPATH: so that --model-class can import bench.models.
    run_env = {"PYTHONPATH": str(env.ROOT)}
    if config.startswith("gpt2"):
        run_env["HF_HUB_OFFLINE"] = "1"
    if config == "gpt2-vllm":  # vLLM binds its OpenMP threads itself: to the server's core
        run_env |= {"VLLM_CPU_OMP_THREADS_BIND": str(server_core), "VLLM_CPU_KVCACHE_SPACE": "1"}
    return Launch("modelplane", config, argv, http, grpc, env=run_env)


def kserve(config: str, p: env.Paths) -> Launch:
    http, grpc = free_port(), free_port()
    python = str(env.venv_python("kserve"))
    anchors = env.BENCH / "anchors"
    if config == "tensor":
        argv = [python, str(anchors / "kserve_tensor.py"), "--model_name", TENSOR_MODEL]
    else:
        argv = [python, str(anchors / "kserve_sklearn.py"), "--model_name", IRIS_MODEL]
        argv += ["--model_dir", str(p.iris_dir)]
    argv += ["--http_port", str(http), "--grpc_port", str(grpc)]
    return Launch("kserve", config, argv, http, grpc)


def mlserver(config: str, p: env.Paths) -> Launch:
    """MLServer with its defaults, except the addresses: a settings.json and one
    model-settings.json for the same joblib file, written here."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    repo = p.mlserver_repo
    (repo / IRIS_MODEL).mkdir(parents=True, exist_ok=True)
    settings = {"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics}
    (repo / "settings.json").write_text(json.dumps(settings, indent=2))
    model_settings = {
        "name": IRIS_MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(p.iris_file)},
    }
    (repo / IRIS_MODEL / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    mlserver_bin = env.VENVS / "mlserver" / "bin" / "mlserver"
    return Launch("mlserver", config, [str(mlserver_bin), "start", str(repo)], http, grpc, cwd=repo)


def bare(config: str, p: env.Paths) -> Launch:
    port = free_port()
    argv = [str(env.ROOT / ".venv" / "bin" / "python"), str(env.BENCH / "anchors" / "bare_asgi.py")]
    argv += ["--port", str(port)]
    if config == "predict":
        argv += ["--model", str(p.iris_file)]
    return Launch("bare", config, argv, port)


# -- probes -----------------------------------------------------------------------------------


def post(port: int, path: str, body: Body, timeout: float = 60.0) -> tuple[int, bytes] | None:
    """POST `body` once; None when nothing listens yet."""
    headers = {"Content-Type": body.content_type}
    for line in body.headers:
        name, value = line.split(":", 1)
        headers[name] = value.strip()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body.path.read_bytes(), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


class ServerFailed(RuntimeError):
    pass


class Server:
    """One started server process tree, pinned to `core`."""

    def __init__(self, launch: Launch, log_path: Path, core: int | None) -> None:
        self.launch = launch
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        pin = ["taskset", "-c", str(core)] if core is not None else []
        run_env = {**os.environ, **launch.env}
        run_env.pop("VIRTUAL_ENV", None)
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [*pin, *launch.argv],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=run_env,
            cwd=launch.cwd,
        )
        self.memory = procs.MemorySampler(self.proc.pid)

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def first_answer(self, path: str, body: Body, check: Check, timeout: float = 120.0) -> float:
        """Poll `path` with `body` until it answers correctly; seconds since the start."""
        deadline = self.started_at + timeout
        last = "no answer"
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"{self.launch.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                answer = post(self.launch.http_port, path, body, timeout=5.0)
            except OSError as exc:
                answer, last = None, str(exc)
            if answer is not None:
                problem = check(*answer)
                if problem is None:
                    return time.perf_counter() - self.started_at
                last = problem
            time.sleep(0.005)
        raise ServerFailed(f"{self.launch.name} gave no correct answer in {timeout:.0f} s: {last}")

    def cpu_seconds(self) -> float:
        return procs.cpu_seconds(procs.tree(self.proc.pid))

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after a grace period."""
        self.memory.stop()
        pgid = self.proc.pid  # start_new_session: the server leads its own group
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # workers that outlive their parent
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def missing_flags(flags: list[str]) -> list[str]:
    """Which of `flags` `modelplane serve --help` does not list."""
    out = subprocess.run(
        [str(env.ROOT / ".venv" / "bin" / "modelplane"), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [flag for flag in flags if flag not in out]
