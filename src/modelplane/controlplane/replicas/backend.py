"""Where a replica runs: the `ReplicaBackend` seam, and what a replica asks of a machine.

The replica set and each replica's supervisor decide *what* runs (how many, when to restart,
when to stop); a backend decides *where*: `local.LocalBackend` starts processes on this machine,
`ray_backend.RayBackend` starts each one inside a Ray actor on the node Ray picks. Whatever the
backend, a running replica is a `Running` handle: the address it answers on (a host and ports,
never assumed to be 127.0.0.1), and the means to watch it, signal it and read its output.

`Demand` is what Kubernetes' scheduler reads from a container's `resources`: the requests (a
limit stands in for a missing request, as the API server defaults it). `Limits` is what the
kubelet holds a running container to. `Termination` is how a replica ended, in the terms of a
container's `lastState.terminated` (exit code 128+N for signal N, reason `OOMKilled`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from modelplane.resources import meta

GPU = "nvidia.com/gpu"


class Unschedulable(Exception):
    """No node can take the replica now; the message is the scheduler's reason."""


@dataclass(frozen=True)
class Demand:
    cpu: float | None = None  # cores
    memory: int | None = None  # bytes
    gpu: int = 0

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> Demand:
        limits = dict(resources.get("limits") or {})
        requests = {**limits, **dict(resources.get("requests") or {})}

        def quantity(name: str) -> Decimal | None:
            value = requests.get(name)
            return None if value is None else meta.parse_quantity(value)

        cpu, memory, gpu = quantity("cpu"), quantity("memory"), quantity(GPU)
        return cls(
            cpu=None if cpu is None else float(cpu),
            memory=None if memory is None else int(memory),
            gpu=0 if gpu is None else int(gpu),
        )

    def describe(self) -> str:
        parts = []
        if self.cpu is not None:
            parts.append(f"cpu={self.cpu:g}")
        if self.memory is not None:
            parts.append(f"memory={self.memory / 2**30:.3g}Gi")
        if self.gpu:
            parts.append(f"{GPU}={self.gpu}")
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class Limits:
    cpu: float | None = None  # cores
    memory: int | None = None  # bytes

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> Limits:
        limits = dict(resources.get("limits") or {})
        cpu, memory = limits.get("cpu"), limits.get("memory")
        return cls(
            cpu=None if cpu is None else float(meta.parse_quantity(cpu)),
            memory=None if memory is None else int(meta.parse_quantity(memory)),
        )


@dataclass(frozen=True)
class Termination:
    """How a replica's last run ended, as a container status's `terminated` says it."""

    exit_code: int | None  # None: not known (a process this control plane did not start)
    reason: str  # Completed, Error, OOMKilled, or Unknown
    message: str = ""

    @classmethod
    def of_returncode(cls, code: int, message: str = "") -> Termination:
        """From a Popen-style return code (-N: killed by signal N), as a runtime reports it."""
        exit_code = 128 - code if code < 0 else code
        return cls(exit_code, "Completed" if code == 0 else "Error", message)


@dataclass(frozen=True)
class Launch:
    """One start of one replica."""

    name: str  # the replica's name; unique among live replicas
    attempt: int  # 0 for the first start, then one more per restart
    namespace: str
    argv: tuple[str, ...]  # with `{http_port}` / `{grpc_port}` placeholders
    env: Mapping[str, str]
    grpc: bool  # whether it needs a gRPC port
    ports: tuple[int, int | None]  # free on this machine; a backend elsewhere picks its own
    log_path: Path  # where the control plane keeps the replica's output
    demand: Demand
    limits: Limits = Limits()


class Running(Protocol):
    """A started replica, wherever it runs."""

    @property
    def pid(self) -> int | None: ...
    @property
    def host(self) -> str:
        """The address the gateway and the probes dial."""
        ...

    @property
    def node(self) -> str:
        """The name of the machine it runs on (the pod's nodeName)."""
        ...

    @property
    def http_port(self) -> int: ...
    @property
    def grpc_port(self) -> int | None: ...
    @property
    def argv(self) -> tuple[str, ...]:
        """The command line as started, ports filled in."""
        ...

    def exited(self) -> bool:
        """True once it has ended, or its node has."""
        ...

    def describe_exit(self) -> str:
        """How it ended, for a human: `exit code 1`, `killed by SIGKILL`, `node lost`."""
        ...

    def termination(self) -> Termination:
        """How it ended, once it has, for the pod's `lastState` and the status's exit code."""
        ...

    def send(self, sig: signal.Signals) -> None:
        """Signal it and everything it started; a gone replica is fine."""
        ...

    async def settle(self) -> None:
        """Bring its output up to date in the log (a remote replica's), and let go of what
        holds it there (its actor) once it has exited."""
        ...

    def identity(self) -> dict[str, Any]:
        """What a record needs to find this replica again after a restart of the control plane."""
        ...


class ReplicaBackend(Protocol):
    name: str

    async def start(self) -> None:
        """Connect to wherever replicas run."""
        ...

    async def launch(self, launch: Launch, pending: Callable[[str], None]) -> Running:
        """Start a replica; `pending(reason)` is called while no node can take it yet, and the
        call returns once it is placed and started. Raises OSError when it cannot start."""
        ...

    async def adopt(
        self, identity: Mapping[str, Any], argv: tuple[str, ...], log_path: Path, log_pos: int
    ) -> Running | None:
        """The replica an earlier control plane recorded, if it still runs; `log_pos` is how
        much of this run's output the log at `log_path` already holds."""
        ...

    async def close(self) -> None:
        """Disconnect; replicas stay, for the next control plane to adopt."""
        ...
