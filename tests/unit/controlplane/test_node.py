"""This machine as a scheduler's node: reservations, the scheduler's reasons, cores picked for a
cpu limit, GPUs handed out exclusively from a declared inventory; and what a replica is told
(its GPUs, its thread counts) and how its end is reported. No process is started."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelplane.controlplane import isvc_status, pods, replicas
from modelplane.controlplane.replicas import backend, confine, lifecycle, node, ray_backend
from modelplane.controlplane.replicas.backend import Demand, Limits

GiB = 2**30
FOUR_CORES = node.Capacity(cpus=(0, 1, 2, 3), memory=8 * GiB, gpus=("0", "1"))


def reason(machine: node.Node, demand: Demand) -> str:
    with pytest.raises(backend.Unschedulable) as refused:
        machine.reserve(demand, Limits())
    return str(refused.value)


def test_requests_are_reserved_until_released_as_the_scheduler_reserves_them() -> None:
    machine = node.Node(FOUR_CORES)
    first = machine.reserve(Demand(cpu=3, memory=6 * GiB), Limits())
    assert reason(machine, Demand(cpu=2)) == "0/1 nodes are available: 1 Insufficient cpu."
    assert reason(machine, Demand(cpu=2, memory=3 * GiB)) == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
    )
    machine.reserve(Demand(cpu=1, memory=2 * GiB), Limits())  # exactly what is left
    machine.release(first)
    machine.reserve(Demand(cpu=3), Limits())
    machine.reserve(Demand(), Limits())  # asking nothing always fits


def test_a_request_larger_than_the_whole_machine_never_fits() -> None:
    machine = node.Node(FOUR_CORES)
    assert reason(machine, Demand(cpu=64)) == "0/1 nodes are available: 1 Insufficient cpu."
    assert reason(machine, Demand(memory=2**40)) == (
        "0/1 nodes are available: 1 Insufficient memory."
    )


def test_gpus_are_given_whole_and_exclusively_from_the_inventory() -> None:
    machine = node.Node(FOUR_CORES)
    one = machine.reserve(Demand(gpu=1), Limits())
    two = machine.reserve(Demand(gpu=1), Limits())
    assert (one.gpus, two.gpus) == (("0",), ("1",))
    assert reason(machine, Demand(gpu=1)) == (
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    )
    machine.release(one)
    assert machine.reserve(Demand(gpu=1), Limits()).gpus == ("0",)
    assert reason(node.Node(node.Capacity((0,), GiB)), Demand(gpu=1)).endswith(
        "1 Insufficient nvidia.com/gpu."
    )


def test_a_cpu_limit_pins_to_that_many_least_pinned_cores() -> None:
    machine = node.Node(FOUR_CORES)
    assert machine.reserve(Demand(), Limits(cpu=1)).cpus == (0,)
    assert machine.reserve(Demand(), Limits(cpu=1.5)).cpus == (1, 2)  # rounded up
    assert machine.reserve(Demand(), Limits(cpu=0.1)).cpus == (3,)
    assert machine.reserve(Demand(), Limits(cpu=1)).cpus == (0,)  # all pinned once: wrap
    assert machine.reserve(Demand(), Limits(cpu=4)).cpus == ()  # the whole machine: no pin
    assert machine.reserve(Demand(), Limits()).cpus == ()


def test_an_adopted_replica_keeps_what_it_held() -> None:
    machine = node.Node(FOUR_CORES)
    machine.restore(Demand(cpu=4, gpu=2), cpus=(2,), gpus=("0", "1"))
    assert reason(machine, Demand(gpu=1)).endswith("1 Insufficient nvidia.com/gpu.")
    assert machine.reserve(Demand(), Limits(cpu=1)).cpus == (0,)  # core 2 is taken


async def test_admit_waits_pending_until_a_release_makes_room() -> None:
    machine = node.Node(FOUR_CORES)
    held = machine.reserve(Demand(gpu=2), Limits())
    said: list[str] = []
    waiting = asyncio.create_task(machine.admit(Demand(gpu=1), Limits(), said.append))
    other = asyncio.create_task(machine.admit(Demand(gpu=1), Limits(), said.append))
    await asyncio.sleep(0)
    assert not waiting.done() and said == [
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    ] * 2
    machine.release(held)
    grants = await asyncio.gather(waiting, other)
    assert sorted(g.gpus for g in grants) == [("0",), ("1",)]


def test_gpus_are_read_from_nvidia_smi_listing() -> None:
    listing = (
        "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-6f1c2f4e-0000-0000-0000-000000000000)\n"
        "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-7a2d3e5f-0000-0000-0000-000000000000)\n"
    )
    assert node.gpus_listed(listing) == ("0", "1")
    assert node.gpus_listed("") == ()


def test_a_replica_is_told_its_gpus_and_threads() -> None:
    assert confine.environment(Limits(cpu=1.5), ("1",), True) == {
        "MODELPLANE_THREADS": "2",
        "OMP_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "CUDA_VISIBLE_DEVICES": "1",
    }
    assert confine.environment(Limits(), (), True) == {"CUDA_VISIBLE_DEVICES": ""}
    assert confine.environment(Limits(memory=GiB), (), False) == {}


def test_limits_and_terminations_read_as_kubernetes_writes_them() -> None:
    resources = {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}
    assert Limits.of(resources) == Limits(cpu=0.5, memory=64 * 2**20)
    assert Demand.of(resources) == Demand(cpu=0.1, memory=64 * 2**20)
    assert backend.Termination.of_returncode(-9).exit_code == 137
    assert backend.Termination.of_returncode(1).reason == "Error"
    assert backend.Termination.of_returncode(0).reason == "Completed"


def oom_killed() -> replicas.Replica:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ended = lifecycle.Exited(
        backend.Termination(137, "OOMKilled", "memory limit exceeded: 90Mi used, limit 64Mi"),
        at,
        at,
    )
    return replicas.Replica(
        name="big-predictor-00001-abcde", namespace="default", revision="big-predictor-00001",
        http_port=1, grpc_port=None, pid=None, phase=replicas.Phase.BACKOFF, restarts=1,
        started_at=at, ready=False,
        last_failure="OOMKilled (exit code 137; 90Mi used, limit 64Mi): holding 200 MiB",
        never_ready=True, log_path=Path("/h/n.log"),
        last_exit=ended,
    )  # fmt: skip


def test_an_oom_kill_is_reported_as_kubernetes_reports_it() -> None:
    replica = oom_killed()
    (status,) = pods.pod(replica)["status"]["containerStatuses"]
    assert status["lastState"]["terminated"] == {
        "exitCode": 137,
        "reason": "OOMKilled",
        "message": "memory limit exceeded: 90Mi used, limit 64Mi",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:00Z",
    }
    view = isvc_status.RevisionView.of({"metadata": {"name": replica.revision}}, [replica])
    assert view.failure == "OOMKilled (exit code 137; 90Mi used, limit 64Mi)"
    assert view.exit_code == 137


def test_the_ray_backend_asks_ray_for_gpus_and_memory_as_it_did() -> None:
    resources = {"limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}}
    options = ray_backend.actor_options("r.0", "ns", Demand.of(resources))
    assert options == {
        "name": "r.0", "namespace": "ns", "lifetime": "detached", "max_restarts": 0,
        "scheduling_strategy": "SPREAD", "num_cpus": 2.0, "memory": GiB, "num_gpus": 1,
    }  # fmt: skip
    assert ray_backend.actor_options("r.0", "ns", Demand())["num_cpus"] == 0
    assert "num_gpus" not in ray_backend.actor_options("r.0", "ns", Demand())
