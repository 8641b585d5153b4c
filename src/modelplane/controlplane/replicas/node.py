"""This machine as Kubernetes' scheduler sees a node: what it has, what the replicas on it
have reserved, and which cores and GPUs each replica is given.

A replica's requests (`backend.Demand`) are reserved while it runs, as the scheduler reserves a
pod's: one that does not fit in what is left waits, Pending, with the scheduler's sentence
(`0/1 nodes are available: 1 Insufficient cpu.`), and is placed as soon as another replica's
reservation is released. A request larger than the whole machine waits forever, as a pod no
node can hold does. GPUs are handed out whole and exclusively, by the index CUDA numbers them
with (`CUDA_VISIBLE_DEVICES`), as the NVIDIA device plugin hands a container its devices. A
cpu limit pins the replica to that many cores (rounded up), the least pinned first, so
replicas with limits spread over the machine.

The inventory is injectable (`Capacity`): `Capacity.of_this_machine()` reads the cores this
process may use, the memory, and the GPUs `nvidia-smi -L` lists.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from modelplane.controlplane.replicas import backend

_GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


def discover_gpus() -> tuple[str, ...]:
    """The indices of the GPUs `nvidia-smi -L` lists; none where it is missing or fails."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return ()
    try:
        listing = subprocess.run(
            [command, "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return gpus_listed(listing)


def gpus_listed(listing: str) -> tuple[str, ...]:
    """The indices in `nvidia-smi -L`'s lines (`GPU 0: NVIDIA H100 ... (UUID: GPU-...)`)."""
    return tuple(_GPU_LINE.findall(listing))


def usable_cpus() -> tuple[int, ...]:
    """The cores this process may run on (its affinity, where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Capacity:
    cpus: tuple[int, ...]  # core numbers
    memory: int  # bytes
    gpus: tuple[str, ...] = ()  # as CUDA_VISIBLE_DEVICES names them

    @classmethod
    def of_this_machine(cls, gpus: Sequence[str] | None = None) -> Capacity:
        return cls(
            cpus=usable_cpus(),
            memory=int(psutil.virtual_memory().total),
            gpus=tuple(discover_gpus() if gpus is None else gpus),
        )


@dataclass(frozen=True)
class Grant:
    """What one replica holds on this machine while it runs."""

    key: str
    demand: backend.Demand
    cpus: tuple[int, ...] = ()  # the cores it is pinned to; empty: not pinned
    gpus: tuple[str, ...] = ()


class Node:
    """Reservations on this machine, and the wait for room."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self._grants: dict[str, Grant] = {}
        self._keys = itertools.count(1)
        self._freed: asyncio.Event | None = None

    def reserve(self, demand: backend.Demand, limits: backend.Limits) -> Grant:
        """Reserve demand now, or raise backend.Unschedulable with the scheduler's reason."""
        short = []
        cpu = sum(g.demand.cpu or 0.0 for g in self._grants.values())
        if demand.cpu and cpu + demand.cpu > len(self.capacity.cpus) + 1e-9:
            short.append("cpu")
        memory = sum(g.demand.memory or 0 for g in self._grants.values())
        if demand.memory and memory + demand.memory > self.capacity.memory:
            short.append("memory")
        free_gpus = [gpu for gpu in self.capacity.gpus if gpu not in self._gpus_held()]
        if demand.gpu > len(free_gpus):
            short.append(backend.GPU)
        if short:
            reasons = ", ".join(f"1 Insufficient {what}" for what in short)
            raise backend.Unschedulable(f"0/1 nodes are available: {reasons}.")
        grant = Grant(
            f"r{next(self._keys)}", demand, self._pick_cpus(limits), tuple(free_gpus[: demand.gpu])
        )
        self._grants[grant.key] = grant
        return grant

    def restore(self, demand: backend.Demand, cpus: Sequence[int], gpus: Sequence[str]) -> Grant:
        """Hold what an adopted replica was given; it runs already, so it is never refused."""
        grant = Grant(f"r{next(self._keys)}", demand, tuple(cpus), tuple(gpus))
        self._grants[grant.key] = grant
        return grant

    def release(self, grant: Grant) -> None:
        if self._grants.pop(grant.key, None) is not None and self._freed is not None:
            self._freed.set()

    async def admit(
        self, demand: backend.Demand, limits: backend.Limits, pending: Callable[[str], None]
    ) -> Grant:
        """Reserve demand, waiting (Pending with the reason) until the machine has room."""
        while True:
            freed = self._freed = self._freed or asyncio.Event()
            try:
                return self.reserve(demand, limits)
            except backend.Unschedulable as exc:
                pending(str(exc))
            await freed.wait()
            if self._freed is freed:  # the first waiter to wake arms the next wait
                self._freed = None

    def _gpus_held(self) -> set[str]:
        return {gpu for grant in self._grants.values() for gpu in grant.gpus}

    def _pick_cpus(self, limits: backend.Limits) -> tuple[int, ...]:
        cores = self.capacity.cpus
        if limits.cpu is None or math.ceil(limits.cpu) >= len(cores):
            return ()  # no limit, or one the whole machine meets: nothing to pin
        pinned = {core: 0 for core in cores}
        for grant in self._grants.values():
            for core in grant.cpus:
                pinned[core] = pinned.get(core, 0) + 1
        least = sorted(cores, key=lambda core: (pinned[core], core))
        return tuple(sorted(least[: max(1, math.ceil(limits.cpu))]))
