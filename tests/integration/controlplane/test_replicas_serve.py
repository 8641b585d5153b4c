"""Replicas of the real `modelplane serve`: an iris model becomes ready and answers a predict on
the replica's own port; a storage URI that does not exist leaves the server's own message in
last_failure, which the reconciler turns into the FailedToLoad reason."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from modelplane.controlplane import replicas
from tests.support import models

NS, REV = "default", "sklearn-iris-predictor-00001"
TIMEOUT = 60.0


def serve(storage_uri: str, cache: Path) -> replicas.Template:
    return replicas.Template(
        argv=(
            sys.executable, "-m", "modelplane.cli", "serve",
            "--model-name", "sklearn-iris", "--storage-uri", storage_uri,
            "--cache-dir", str(cache),
            "--http-port", "{http_port}", "--grpc-port", "{grpc_port}",
        )
    )  # fmt: skip


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[replicas.ReplicaManager]:
    mgr = replicas.ReplicaManager(
        tmp_path / "home", probe_interval=0.05, graceful_timeout=30.0, backoff_base=5.0
    )
    await mgr.start()
    yield mgr
    await mgr.close(stop=True)


async def test_a_serve_replica_becomes_ready_and_predicts(
    manager: replicas.ReplicaManager, iris_dir: Path, tmp_path: Path
) -> None:
    manager.ensure(NS, REV, serve(str(iris_dir), tmp_path / "cache"), 1)
    await manager.wait_for(lambda: manager.replicas(NS, REV)[0].ready, TIMEOUT)
    (replica,) = manager.replicas(NS, REV)
    assert replica.grpc_port is not None and replica.grpc_port != replica.http_port
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            f"http://127.0.0.1:{replica.http_port}/v1/models/sklearn-iris:predict",
            json={"instances": models.IRIS_ROWS},
        )
    assert response.status_code == 200
    assert response.json() == {"predictions": [0, 2]}
    log = replica.log_path.read_text()
    assert f"gRPC on 127.0.0.1:{replica.grpc_port}" in log
    await manager.close(stop=True)
    assert manager.all() == []
    assert "stopped" in replica.log_path.read_text(), "drained and stopped on SIGTERM"


async def test_a_missing_storage_uri_is_the_reported_failure(
    manager: replicas.ReplicaManager, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    manager.ensure(NS, REV, serve(str(missing), tmp_path / "cache"), 1)
    await manager.wait_for(lambda: manager.replicas(NS, REV)[0].last_failure is not None, TIMEOUT)
    (replica,) = manager.replicas(NS, REV)
    assert replica.phase is replicas.Phase.BACKOFF and replica.never_ready
    assert replica.last_failure is not None
    assert replica.last_failure.startswith("exit code 1: ")
    assert f"local path '{missing}' does not exist" in replica.last_failure
