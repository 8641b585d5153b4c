"""Replicas whose control plane died before recording them are found by their log and stopped."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.controlplane.replicas import local


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait()


def _writing_to(path: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    started.append(process)
    return process


def _wait_for_output(path: Path) -> None:
    # The child's stdout is the file from its first instruction; its line only says it runs.
    from tests.support.controlplane import wait_until

    wait_until(lambda: path.read_text().startswith("up"), timeout=30, what=f"{path} written")


def test_only_unrecorded_processes_writing_under_the_logs_are_stopped(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    logs = tmp_path / "home" / "logs"
    orphan = _writing_to(logs / "default" / "iris-predictor-00002-ab12c.log", started)
    adopted = _writing_to(logs / "default" / "iris-predictor-00001-zz99z.log", started)
    elsewhere = _writing_to(tmp_path / "other" / "app.log", started)
    for path in (
        logs / "default" / "iris-predictor-00002-ab12c.log",
        logs / "default" / "iris-predictor-00001-zz99z.log",
        tmp_path / "other" / "app.log",
    ):
        _wait_for_output(path)

    assert local.stop_orphans(logs, keep={adopted.pid}) == [orphan.pid]
    assert orphan.wait(30) == -9
    assert adopted.poll() is None and elsewhere.poll() is None
