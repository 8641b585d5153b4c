"""`modelplane wait` and `modelplane logs` against the real API server: a watch that ends when a
condition holds or time runs out, and replicas' logs read through the API's pods."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from modelplane.controlplane import errors
from modelplane.resources import catalog
from tests.integration.controlplane.test_cli import SEED, failed, ok, run, set_status, start, write
from tests.support.apiserver import ApiServer

LOG = [b"loading model\n", b"model ready\n"]


def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class FakePods:
    """Two replicas of sklearn-iris and one of another service, each with a short log."""

    NAMES: ClassVar[dict[str, str]] = {
        "sklearn-iris-predictor-00001-1": "sklearn-iris",
        "sklearn-iris-predictor-00001-2": "sklearn-iris",
        "other-predictor-00001-1": "other",
    }

    def __init__(self) -> None:
        self.reads: list[dict[str, Any]] = []

    def list_pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return [
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "namespace": "default",
                          "labels": {catalog.ISVC_LABEL: isvc}}}
            for name, isvc in self.NAMES.items() if namespace in (None, "default")
        ]  # fmt: skip

    def read_log(self, namespace: str, name: str, *, container: str | None, follow: bool,
                 tail_lines: int | None) -> AsyncIterator[bytes]:  # fmt: skip
        self.reads.append({"pod": name, "container": container, "follow": follow,
                           "tail": tail_lines})  # fmt: skip
        if container not in (None, "predictor", "kserve-container"):
            raise errors.BadRequest(f"container {container} is not valid for pod {name}")
        lines = [*LOG, b"followed line\n"] if follow else LOG
        lines = lines[-tail_lines:] if tail_lines is not None else lines

        async def stream() -> AsyncIterator[bytes]:
            for line in lines:
                yield line

        return stream()


@pytest.fixture
def pods() -> FakePods:
    return FakePods()


@pytest.fixture
def server(tmp_path: Path, pods: FakePods) -> Iterator[ApiServer]:
    running = start(tmp_path / "home", pods=pods)
    try:
        yield running
    finally:
        running.stop()


def test_wait_times_out_with_kubectls_words(server: ApiServer, tmp_path: Path) -> None:
    ok(run(server, "apply", "-f", write(tmp_path, SEED)))
    began = time.monotonic()
    result = run(server, "wait", "isvc", "sklearn-iris", "--for=condition=Ready", "--timeout=1s")
    assert failed(result) == (
        "error: timed out waiting for the condition on inferenceservices/sklearn-iris\n"
    )
    assert 1 <= time.monotonic() - began < 10


def test_wait_returns_when_the_condition_becomes_true(server: ApiServer, tmp_path: Path) -> None:
    ok(run(server, "apply", "-f", write(tmp_path, SEED)))
    set_status(server, {"conditions": [{"type": "Ready", "status": "False"}]})
    waiting = subprocess.Popen(
        [sys.executable, "-m", "modelplane.cli", "wait", "isvc", "sklearn-iris",
         "--for", "condition=Ready", "--timeout", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MODELPLANE_HOME": str(server.home)}, cwd=tmp_path,
    )  # fmt: skip
    try:
        until(lambda: server.call(lambda db: db.watchers) == 1 or waiting.poll() is not None)
        assert waiting.poll() is None, waiting.communicate()  # still waiting: not Ready yet
        set_status(server, {"conditions": [{"type": "Ready", "status": "True"}]})
        out, err = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert out == "inferenceservice.serving.kserve.io/sklearn-iris condition met\n"
    # Already met: answered from the list, without watching.
    again = run(server, "wait", "--for=condition=Ready", "isvc/sklearn-iris", "--timeout=5s")
    assert ok(again) == "inferenceservice.serving.kserve.io/sklearn-iris condition met\n"


def test_wait_names_what_is_missing_or_malformed(server: ApiServer) -> None:
    missing = run(server, "wait", "isvc", "nope", "--for=condition=Ready", "--timeout=5s")
    assert failed(missing) == (
        'Error from server (NotFound): inferenceservices.serving.kserve.io "nope" not found\n'
    )
    malformed = run(server, "wait", "isvc", "nope", "--for=delete")
    assert malformed.exit_code == 2 and "condition=NAME" in malformed.stderr


def test_logs_of_several_replicas_are_prefixed_by_pod(server: ApiServer, pods: FakePods) -> None:
    assert ok(run(server, "logs", "sklearn-iris")).splitlines() == [
        "[pod/sklearn-iris-predictor-00001-1] loading model",
        "[pod/sklearn-iris-predictor-00001-1] model ready",
        "[pod/sklearn-iris-predictor-00001-2] loading model",
        "[pod/sklearn-iris-predictor-00001-2] model ready",
    ]
    assert ok(run(server, "logs", "other")) == "loading model\nmodel ready\n"
    assert ok(run(server, "logs", "other", "--tail", "1", "-c", "predictor")) == "model ready\n"
    assert pods.reads[-1] == {"pod": "other-predictor-00001-1", "container": "predictor",
                              "follow": False, "tail": 1}  # fmt: skip


def test_followed_logs_interleave_every_replica(server: ApiServer, pods: FakePods) -> None:
    lines = ok(run(server, "logs", "sklearn-iris", "-f", "-c", "predictor")).splitlines()
    for pod in ("sklearn-iris-predictor-00001-1", "sklearn-iris-predictor-00001-2"):
        mine = [line for line in lines if line.startswith(f"[pod/{pod}/predictor] ")]
        assert [m.split("] ", 1)[1] for m in mine] == [
            "loading model", "model ready", "followed line",
        ]  # fmt: skip
    assert len(lines) == 6
    assert {r["follow"] for r in pods.reads} == {True}


def test_logs_failures_are_clear(server: ApiServer) -> None:
    none = failed(run(server, "logs", "absent"))
    assert none == 'error: no pods found for inferenceservice "absent" in namespace "default"\n'
    wrong = failed(run(server, "logs", "other", "-c", "sidecar"))
    assert wrong.startswith("Error from server (BadRequest): container sidecar is not valid")
