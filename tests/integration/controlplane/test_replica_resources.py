"""Resources held by the local backend, with real processes (tests/support/replica_app.py): a
replica past its memory limit is killed and reported OOMKilled, then restarted; a cpu limit pins
it to cores and sizes its threads; GPUs from a declared inventory go to one replica each, and a
replica that cannot get one waits Pending until one is freed; requests larger than the machine
never start. Waits are on the manager's change notifications."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelplane.controlplane import pods, replicas
from modelplane.controlplane.replicas import local, node
from tests.integration.controlplane.test_replicas import APP, NS, REV, TIMEOUT, get, ready

Make = Callable[..., Awaitable[replicas.ReplicaManager]]


def app(resources: dict[str, Any], **env: str) -> replicas.Template:
    argv = (sys.executable, str(APP), "--port", "{http_port}")
    return replicas.Template(argv=argv, env=env, grpc=False, resources=resources)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[replicas.ReplicaManager] = []

    async def make(capacity: node.Capacity | None = None) -> replicas.ReplicaManager:
        backend = local.LocalBackend(capacity, memory_poll=0.05)
        options: dict[str, Any] = {"probe_interval": 0.02, "backoff_base": 0.05, "backoff_max": 0.4}
        made.append(replicas.ReplicaManager(tmp_path / "home", backend=backend, **options))
        await made[-1].start()
        return made[-1]

    yield make
    for each in made:
        await each.close(stop=True)


async def test_a_replica_past_its_memory_limit_is_oomkilled_and_restarted(manager: Make) -> None:
    mgr = await manager()
    mgr.ensure(NS, REV, app({"limits": {"memory": "96Mi"}}), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (before,) = mgr.replicas(NS, REV)
    with contextlib.suppress(httpx.HTTPError):  # it may be killed before it answers
        await get(before, "/allocate?mb=160")
    await mgr.wait_for(lambda: mgr.replicas(NS, REV)[0].restarts == 1, TIMEOUT)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (after,) = mgr.replicas(NS, REV)
    assert after.pid != before.pid and after.last_exit is not None
    assert after.last_exit.termination.exit_code == 137
    assert after.last_exit.termination.reason == "OOMKilled"
    assert after.last_failure and after.last_failure.startswith("OOMKilled (exit code 137; ")
    (status,) = pods.pod(after)["status"]["containerStatuses"]
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["restartCount"] == 1 and status["state"].get("running")


async def test_a_cpu_limit_pins_the_replica_and_sizes_its_threads(manager: Make) -> None:
    mgr = await manager(node.Capacity(cpus=node.usable_cpus(), memory=2**34))
    mgr.ensure(NS, REV, app({"limits": {"cpu": "1"}}), 2)
    await mgr.wait_for(ready(mgr, 2), TIMEOUT)
    seen = [await get(r, "/env") for r in mgr.replicas(NS, REV)]
    for env in seen:
        assert len(env["affinity"]) == 1
        assert env["MODELPLANE_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    if len(node.usable_cpus()) > 1:  # spread: each on a core of its own
        assert seen[0]["affinity"] != seen[1]["affinity"]


async def test_gpus_go_one_replica_each_and_the_one_left_waits_pending(manager: Make) -> None:
    capacity = node.Capacity(cpus=node.usable_cpus(), memory=2**34, gpus=("0", "1"))
    mgr = await manager(capacity)
    mgr.ensure(NS, REV, app({"limits": {"nvidia.com/gpu": "1"}}), 3)
    mgr.ensure(NS, "plain-predictor-00001", app({}), 1)
    insufficient = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."

    def split() -> tuple[list[replicas.Replica], list[replicas.Replica]]:
        members = mgr.replicas(NS, REV)
        return [r for r in members if r.ready], [
            r for r in members if r.phase is replicas.Phase.PENDING
        ]

    await mgr.wait_for(lambda: [len(s) for s in split()] == [2, 1], TIMEOUT)
    serving, (waiting,) = split()
    assert waiting.pending_reason == insufficient and waiting.pid is None
    gpus = {(await get(r, "/env"))["CUDA_VISIBLE_DEVICES"]: r for r in serving}
    assert sorted(gpus) == ["0", "1"]
    await mgr.wait_for(ready(mgr, 1, "plain-predictor-00001"), TIMEOUT)
    (plain,) = mgr.replicas(NS, "plain-predictor-00001")
    assert (await get(plain, "/env"))["CUDA_VISIBLE_DEVICES"] == ""  # asked for none

    # GPU 0's replica exits: the one waiting takes GPU 0, and the crashed one waits instead.
    with contextlib.suppress(httpx.HTTPError):
        await get(gpus["0"], "/exit?code=1")
    await mgr.wait_for(lambda: (found := mgr.find(NS, waiting.name)) is not None
                       and found.ready, TIMEOUT)  # fmt: skip
    took = mgr.find(NS, waiting.name)
    assert took is not None and (await get(took, "/env"))["CUDA_VISIBLE_DEVICES"] == "0"
    await mgr.wait_for(lambda: (found := mgr.find(NS, gpus["0"].name)) is not None
                       and found.pending_reason == insufficient, TIMEOUT)  # fmt: skip


async def test_requests_larger_than_the_machine_are_pending_and_never_started(
    manager: Make,
) -> None:
    mgr = await manager()
    mgr.ensure(NS, REV, app({"requests": {"cpu": "512", "memory": "1Ti"}}), 1)
    await mgr.wait_for(
        lambda: mgr.replicas(NS, REV)[0].phase is replicas.Phase.PENDING, TIMEOUT
    )
    (replica,) = mgr.replicas(NS, REV)
    assert replica.pending_reason == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
    )
    assert replica.pid is None and not replica.log_path.exists()
    condition = pods.pod(replica)["status"]["conditions"][0]
    assert condition["reason"] == "Unschedulable"
