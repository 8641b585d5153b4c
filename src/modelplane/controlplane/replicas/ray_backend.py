"""The Ray backend: each replica in a detached, named Ray actor on the node Ray chooses.

`modelplane up --backend ray --ray-address HOST:PORT` connects to an existing Ray cluster; the
control plane runs on one of its nodes (the head, typically), as a Ray driver. A replica's
resources become the actor's: `cpu` -> num_cpus, `memory` -> memory, `nvidia.com/gpu` ->
num_gpus (Ray then sets CUDA_VISIBLE_DEVICES for it), placed with the SPREAD strategy as
Kubernetes spreads a ReplicaSet. While no node has room the replica is Pending with the
scheduler's reason, and it is placed as soon as one does (a node joins, another replica goes).

Actors are named `{replica}.{attempt}` in a Ray namespace of this control plane's home, so a
control plane started again after a kill -9 finds them (`adopt`). A replica whose actor dies
with its node is seen as exited at once, and its supervisor starts it again on a node that is
left. The replica's output stays in a file on its node; the backend copies it into the
control plane's log every second, so `modelplane logs` and failure reasons work as locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelplane.controlplane.replicas import backend, ray_actor, signals

log = logging.getLogger(__name__)

_PENDING_CHECK = 1.0  # seconds between looks at why a replica is not placed yet
_LOG_SYNC = 1.0  # seconds between copies of a replica's new output


def namespace_for(home: Path) -> str:
    """The Ray namespace of the control plane whose state lives in `home`."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]
    return f"modelplane-{digest}"


def _ray() -> Any:
    """Ray, imported where it is used: every module of modelplane imports without its extras."""
    import ray

    return ray


def _error() -> type[Exception]:
    error: type[Exception] = _ray().exceptions.RayError
    return error


def _is_local(address: str) -> bool:
    """Whether `address` is one of this machine's (it can be bound here)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            probe.bind((address.strip("[]"), 0))
    except (OSError, ValueError):
        return False
    return True


async def _get(ref: Any) -> Any:
    return await asyncio.wrap_future(ref.future())


class RayReplica:
    """A replica inside its actor, as a backend's `Running` handle."""

    def __init__(
        self, actor: Any, actor_name: str, info: Mapping[str, Any], log_path: Path, log_pos: int
    ) -> None:
        self.actor = actor
        self.actor_name = actor_name
        self.pid: int | None = info.get("pid")
        self.host: str = info["host"]
        self.node: str = info["node"]
        self.http_port: int = int(info["http_port"])
        grpc = info.get("grpc_port")
        self.grpc_port: int | None = None if grpc is None else int(grpc)
        self.argv: tuple[str, ...] = tuple(info.get("argv", ()))
        self._log_path = log_path
        self._log_pos = log_pos  # how much of the remote log is in the local one
        self._wait = actor.wait.remote()
        self._sync = asyncio.get_running_loop().create_task(self._keep_log())
        self._released = False

    def exited(self) -> bool:
        ready, _ = _ray().wait([self._wait], timeout=0)
        return bool(ready)

    def describe_exit(self) -> str:
        try:
            code = _ray().get(self._wait, timeout=0)
        except _ray().exceptions.RayActorError as exc:
            return f"lost with its node or actor ({type(exc).__name__})"
        except _error() as exc:
            return f"lost ({type(exc).__name__})"
        return "never started" if code is None else signals.describe(code)

    def termination(self) -> backend.Termination:
        how = self.describe_exit()
        try:
            code = _ray().get(self._wait, timeout=0)
        except _error():
            code = None  # lost with its node: the exit status went with it
        if code is None:
            return backend.Termination(None, "Unknown", how)
        return backend.Termination.of_returncode(int(code), how)

    def send(self, sig: signal.Signals) -> None:
        if not self._released:
            self.actor.signal.remote(int(sig))

    async def settle(self) -> None:
        await self._copy_log()
        if self.exited():
            self._sync.cancel()
            self._released = True
            with contextlib.suppress(_error(), ValueError):
                _ray().kill(self.actor, no_restart=True)

    def identity(self) -> dict[str, Any]:
        return {"actor": self.actor_name}

    async def _keep_log(self) -> None:
        while True:
            await asyncio.sleep(_LOG_SYNC)
            await self._copy_log()

    async def _copy_log(self) -> None:
        while True:
            try:
                chunk: bytes = await _get(self.actor.read_log.remote(self._log_pos))
            except _error():
                return  # the actor is gone, and its node's file with it
            if not chunk:
                return
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "ab") as out:
                out.write(chunk)
            self._log_pos += len(chunk)


def actor_options(actor_name: str, namespace: str, demand: backend.Demand) -> dict[str, Any]:
    """The Ray actor options of a replica: its requests as Ray resources (cpu -> num_cpus,
    memory -> memory in bytes, nvidia.com/gpu -> num_gpus), spread over nodes."""
    options: dict[str, Any] = {
        "name": actor_name,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": 0,
        "scheduling_strategy": "SPREAD",
        "num_cpus": demand.cpu or 0,
    }
    if demand.memory:
        options["memory"] = demand.memory
    if demand.gpu:
        options["num_gpus"] = demand.gpu
    return options


class RayBackend:
    """Replicas on a Ray cluster."""

    name = "ray"

    def __init__(self, address: str, namespace: str, node_ip: str | None = None) -> None:
        self.address = address
        self.namespace = namespace
        self.node_ip = node_ip
        self._remote: Any = None

    async def start(self) -> None:
        # A driver attaches to the raylet of the node it runs on; Ray guesses that node's address
        # from the route to the GCS, so when the head is on this machine say so (loopback
        # clusters have one address per node).
        head = self.address.rpartition(":")[0]
        node_ip = self.node_ip or (head if _is_local(head) else None)
        options: dict[str, Any] = {
            "address": self.address,
            "namespace": self.namespace,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "configure_logging": False,
        }
        if node_ip:
            options["_node_ip_address"] = node_ip
        # On the loop's own thread (the main one), once, before anything is served. Ray sets
        # its own SIGTERM and SIGINT handlers; the control plane's drain-and-stop stays in force.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        _ray().init(**options)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        self._remote = _ray().remote(ray_actor.ReplicaActor)

    async def launch(
        self, launch: backend.Launch, pending: Callable[[str], None]
    ) -> RayReplica:
        demand = launch.demand
        actor_name = f"{launch.name}.{launch.attempt}"
        options = actor_options(actor_name, self.namespace, demand)
        with contextlib.suppress(ValueError):  # left by a start this process did not finish
            _ray().kill(_ray().get_actor(actor_name, namespace=self.namespace), no_restart=True)
        actor = self._remote.options(**options).remote()
        started = asyncio.ensure_future(
            _get(actor.start.remote(actor_name, launch.argv, dict(launch.env), launch.grpc))
        )
        try:
            while True:
                done, _ = await asyncio.wait({started}, timeout=_PENDING_CHECK)
                if done:
                    break
                pending(await asyncio.to_thread(self._why_pending, demand))
            info = started.result()
        except BaseException as exc:
            started.cancel()
            with contextlib.suppress(_error(), ValueError):
                _ray().kill(actor, no_restart=True)
            if isinstance(exc, _error()):
                raise OSError(f"the Ray actor could not start the replica: {exc}") from None
            raise
        return RayReplica(actor, actor_name, info, launch.log_path, 0)

    def _why_pending(self, demand: backend.Demand) -> str:
        """The scheduler's sentence for a pod no node can take, from what Ray has free."""
        nodes = [n for n in _ray().nodes() if n.get("Alive")]
        free = _ray().available_resources()
        short = []
        if demand.cpu and free.get("CPU", 0.0) < demand.cpu:
            short.append("cpu")
        if demand.memory and free.get("memory", 0.0) < demand.memory:
            short.append("memory")
        if demand.gpu and free.get("GPU", 0.0) < demand.gpu:
            short.append(backend.GPU)
        if not short:
            return f"waiting for Ray to place it ({demand.describe()})"
        count = len(nodes)
        reasons = ", ".join(f"{count} Insufficient {what}" for what in short)
        return f"0/{count} nodes are available: {reasons}."

    async def adopt(
        self, identity: Mapping[str, Any], argv: tuple[str, ...], log_path: Path, log_pos: int
    ) -> RayReplica | None:
        name = identity.get("actor")
        if not name:
            return None
        try:
            actor = _ray().get_actor(str(name), namespace=self.namespace)
            info = await _get(actor.status.remote())
        except (ValueError, _error()):
            return None  # gone with its node, or killed
        if not info.get("started"):
            with contextlib.suppress(_error(), ValueError):
                _ray().kill(actor, no_restart=True)
            return None
        return RayReplica(actor, str(name), info, log_path, log_pos)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_ray().shutdown)
