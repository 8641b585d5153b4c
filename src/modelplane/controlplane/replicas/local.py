"""The local backend: each replica an operating-system process of this machine.

The control plane may be killed at any moment and started again, so a replica process must
outlive it: processes start in their own session (a kill -9 of the control plane leaves them
running) with their output appended to a log file rather than a pipe. A later control plane
adopts them by pid, after checking that the pid is still the same process (its start time) or,
without a recorded start time, still runs the same command line, so a reused pid is never
mistaken for a replica. psutil reads both, on Linux from /proc and elsewhere from the OS's own
process table.

Own children are watched with Popen.poll (which also reaps them); adopted processes are not
our children, so their exit is seen by psutil, where an unreaped zombie counts as exited.

Resources are held as a kubelet holds a container to them: the machine's reservations and the
cores and GPUs each replica gets are `node.py`'s; a replica is given its GPUs through
`CUDA_VISIBLE_DEVICES` (none when it asks for none), pinned to its cores with the scheduler's
affinity, told its thread count by the cpu limit (`confine.py`), and held to its memory limit
by `memwatch.py`, which kills it as the kernel's OOM killer would, reported `OOMKilled`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import psutil

from modelplane.controlplane.replicas import backend, confine, memwatch, node, signals, warm

log = logging.getLogger(__name__)

TAIL_LINES = 20
_TAIL_BYTES = 16_384
# On Linux psutil adds a process's start, counted since boot, to the boot time, which the kernel
# gives in whole seconds and moves when the clock is stepped: two control planes may read one
# process's start a second apart. A pid is not handed on within seconds of its last start.
_SAME_START = 2.0
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


class ReplicaProcess(Protocol):
    @property
    def pid(self) -> int: ...

    def exited(self) -> bool:
        """True once the process has ended (reaped or a zombie)."""
        ...

    def describe_exit(self) -> str:
        """How it ended, for a human: `exit code 1`, `killed by SIGKILL`."""
        ...

    def returncode(self) -> int | None:
        """Popen's: -N when killed by signal N; None while it runs or when unknown."""
        ...

    def send(self, sig: signal.Signals) -> None:
        """Signal the process and everything in its process group; a gone process is fine."""
        ...


class Spawned:
    """A process this control plane started (its child)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exited(self) -> bool:
        return self._popen.poll() is not None

    def returncode(self) -> int | None:
        return self._popen.poll()

    def describe_exit(self) -> str:
        code = self._popen.poll()
        return "running" if code is None else signals.describe(code)

    def send(self, sig: signal.Signals) -> None:
        # start_new_session made the child a process-group leader; signalling the group also
        # reaches the workers of `modelplane serve --workers N`. Once the leader is reaped its
        # pid stays reserved while the group has members, so the group id is still ours.
        signals.group(self._popen.pid, sig)


class Adopted:
    """A process an earlier control plane started, found alive at start-up."""

    def __init__(self, pid: int, start_time: float) -> None:
        self._pid = pid
        self._start_time = start_time

    @property
    def pid(self) -> int:
        return self._pid

    def exited(self) -> bool:
        started = _running_since(self._pid)
        return started is None or not _same_start(started, self._start_time)

    def describe_exit(self) -> str:
        # Only the parent learns an exit status, and the parent was the earlier control plane.
        return "exited (exit status unknown: adopted process)"

    def returncode(self) -> int | None:
        return None

    def send(self, sig: signal.Signals) -> None:
        if self.exited():
            return
        signals.group(self._pid, sig)


def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Spawned:
    """Start argv in a new session, stdout and stderr appended to log_path. Raises OSError."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    return Spawned(popen)


def adopt(pid: int, argv: Sequence[str], start_time: float | None) -> Adopted | None:
    """The recorded process, if it still runs.

    The pid and its start time name one process for good, so when the start time was recorded
    it decides alone: a process that exec'd or renamed itself (`sh -c`, a wrapper) is still
    ours, and must be adopted rather than forgotten with its port. Without a start time, the
    command line must match too, so a reused pid is never taken for a replica.
    """
    started = _running_since(pid)
    if started is None:
        return None
    if start_time is not None:
        return Adopted(pid, started) if _same_start(started, start_time) else None
    if command_line(pid) != list(argv):
        return None
    return Adopted(pid, started)


def stop_orphans(log_dir: Path, keep: set[int]) -> list[int]:
    """SIGKILL the processes whose output goes under log_dir and that no record names.

    A control plane killed between starting a replica and writing its record leaves that
    replica running with nobody to stop it; the next control plane finds it by its log file
    (every replica's stdout is a file under the home's logs/) and stops it, as the kubelet
    removes containers no pod owns. Returns the pids stopped.
    """
    root = log_dir.resolve()
    stopped = []
    for process in psutil.process_iter():
        if process.pid in keep or process.pid == os.getpid():
            continue
        try:
            files = process.open_files()
        except psutil.Error:
            continue
        if any(Path(f.path).is_relative_to(root) for f in files):
            log.warning(
                "pid %d writes to %s but no replica record names it (its control plane died "
                "before recording it): stopping it", process.pid, files[0].path,
            )  # fmt: skip
            signals.group(process.pid, signal.SIGKILL)
            stopped.append(process.pid)
    return stopped


def start_time(pid: int) -> float | None:
    """When the process started, in seconds since the epoch (psutil's create_time)."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def start_time_from_clock_ticks(ticks: int) -> float:
    """A start time as earlier versions recorded it, clock ticks since boot (field 22 of
    /proc/PID/stat, Linux only), in psutil's terms: the same sum psutil makes."""
    return ticks / os.sysconf("SC_CLK_TCK") + psutil.boot_time()


def command_line(pid: int) -> list[str] | None:
    try:
        return list(psutil.Process(pid).cmdline())
    except psutil.Error:  # gone, a zombie, or not ours to read
        return None


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port on 127.0.0.1 that nothing listens on now (the kernel's pick), not in taken."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            return port


def log_tail(path: Path, offset: int = 0, lines: int = TAIL_LINES) -> str:
    """The last lines written to path after offset (one run's output in an appended log)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _TAIL_BYTES, 0))
            data = log.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _running_since(pid: int) -> float | None:
    """The start time of the process pid if it runs (a zombie has ended), else None."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() in _GONE:
                return None
            return float(process.create_time())
    except psutil.Error:  # no such process, a zombie (macOS), or not ours to inspect
        return None


def _same_start(seen: float, recorded: float) -> bool:
    return abs(seen - recorded) < _SAME_START


class LocalReplica:
    """A replica process on this machine, as a backend's `Running` handle."""

    host = "127.0.0.1"

    def __init__(
        self,
        process: ReplicaProcess,
        argv: tuple[str, ...],
        http_port: int,
        grpc_port: int | None,
        *,
        grant: node.Grant | None = None,
        memory_limit: int | None = None,
        release: Callable[[LocalReplica], None] = lambda replica: None,
    ) -> None:
        self.process = process
        self.argv = argv
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.grant = grant
        self.memory_limit = memory_limit
        self.oom: str | None = None  # set by the memory watcher just before it kills the tree
        self._release = release

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def node(self) -> str:
        return socket.gethostname()

    def exited(self) -> bool:
        return self.process.exited()

    def out_of_memory(self, used: int) -> None:
        limit = self.memory_limit or 0
        self.oom = f"{_mebibytes(used)} used, limit {_mebibytes(limit)}"

    def describe_exit(self) -> str:
        if self.oom is not None:
            return f"OOMKilled (exit code 137; {self.oom})"
        return self.process.describe_exit()

    def termination(self) -> backend.Termination:
        if self.oom is not None:
            return backend.Termination(137, "OOMKilled", f"memory limit exceeded: {self.oom}")
        code = self.process.returncode()
        if code is None:
            return backend.Termination(None, "Unknown", self.process.describe_exit())
        return backend.Termination.of_returncode(code, self.process.describe_exit())

    def send(self, sig: signal.Signals) -> None:
        self.process.send(sig)

    async def settle(self) -> None:
        # The output is in the log already; what the replica held here goes once it has ended.
        if self.process.exited():
            self._release(self)

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"pid": self.pid, "proc_start": start_time(self.pid)}
        if self.grant is not None:
            identity["grant"] = {
                **dataclasses.asdict(self.grant.demand),
                "cpus": list(self.grant.cpus),
                "gpus": list(self.grant.gpus),
            }
        if self.memory_limit is not None:
            identity["memory_limit"] = self.memory_limit
        return identity


class LocalBackend:
    """Replicas as processes of this machine, in sessions of their own, held to their
    resources (see the module's docstring)."""

    name = "local"

    def __init__(
        self,
        capacity: node.Capacity | None = None,
        memory_poll: float = 0.1,
        templates: warm.Templates | None = None,
    ) -> None:
        self._capacity = capacity
        self._node: node.Node | None = None
        self._watcher = memwatch.MemoryWatcher(memory_poll)
        self._templates = templates

    @property
    def machine(self) -> node.Node:
        if self._node is None:
            self._node = node.Node(self._capacity or node.Capacity.of_this_machine())
        return self._node

    async def start(self) -> None:
        if self._node is None:  # nvidia-smi may take a moment: off the loop
            capacity = self._capacity
            if capacity is None:
                capacity = await asyncio.to_thread(node.Capacity.of_this_machine)
            self._node = node.Node(capacity)

    async def launch(
        self, launch: backend.Launch, pending: Callable[[str], None]
    ) -> LocalReplica:
        machine = self.machine
        grant = await machine.admit(launch.demand, launch.limits, pending)
        http_port, grpc_port = launch.ports
        argv = render(launch.argv, http_port, grpc_port)
        share = confine.environment(launch.limits, grant.gpus, bool(machine.capacity.gpus))
        env = {**os.environ, **share, **launch.env, **port_env(http_port, grpc_port)}
        try:
            process = self._warm_start(argv, env, launch, share) or spawn(
                argv, env, launch.log_path
            )
        except OSError:
            machine.release(grant)
            raise
        confine.pin(process.pid, grant.cpus)
        replica = LocalReplica(
            process, argv, http_port, grpc_port,
            grant=grant, memory_limit=launch.limits.memory, release=self._release,
        )  # fmt: skip
        self._hold(replica)
        return replica

    async def adopt(
        self, identity: Mapping[str, Any], argv: tuple[str, ...], log_path: Path, log_pos: int
    ) -> LocalReplica | None:
        process = adopt(int(identity["pid"]), argv, identity.get("proc_start"))
        if process is None:
            return None
        http_port, grpc_port = int(identity["http_port"]), identity.get("grpc_port")
        held = dict(identity.get("grant") or {})
        grant = self.machine.restore(
            backend.Demand(held.get("cpu"), held.get("memory"), int(held.get("gpu") or 0)),
            held.get("cpus") or (),
            held.get("gpus") or (),
        )
        replica = LocalReplica(
            process, argv, http_port, grpc_port,
            grant=grant, memory_limit=identity.get("memory_limit"), release=self._release,
        )  # fmt: skip
        self._hold(replica)
        return replica

    async def close(self) -> None:
        await asyncio.to_thread(self._watcher.close)
        if self._templates is not None:
            await asyncio.to_thread(self._templates.close)

    def _warm_start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        launch: backend.Launch,
        share: Mapping[str, str],
    ) -> ReplicaProcess | None:
        """The replica forked from a warm template, or None to spawn it (see warm.py)."""
        if self._templates is None or launch.limits.cpu is not None:
            return None  # a CPU limit sizes thread pools that the template created already
        process = self._templates.fork(argv, env, launch.log_path, own_env={**share, **launch.env})
        if process is not None:
            log.info("replica %s forked from a warm template (pid %d)", launch.name, process.pid)
        return process

    def _hold(self, replica: LocalReplica) -> None:
        if replica.memory_limit is not None:
            self._watcher.watch(replica.pid, replica.memory_limit, replica.out_of_memory)

    def _release(self, replica: LocalReplica) -> None:
        self._watcher.unwatch(replica.pid)
        if replica.grant is not None:
            self.machine.release(replica.grant)
            replica.grant = None


def _mebibytes(count: int) -> str:
    return f"{count / 2**20:.0f}Mi"


def render(argv: Sequence[str], http_port: int, grpc_port: int | None) -> tuple[str, ...]:
    """argv with its `{http_port}` and `{grpc_port}` placeholders filled (-1: no gRPC)."""
    # str.replace, not str.format: an argument may legitimately hold other braces (JSON).
    grpc = str(-1 if grpc_port is None else grpc_port)
    return tuple(
        arg.replace("{http_port}", str(http_port)).replace("{grpc_port}", grpc) for arg in argv
    )


def port_env(http_port: int, grpc_port: int | None) -> dict[str, str]:
    """The environment that tells a replica its ports (`PORT` as Knative sets it)."""
    return {
        "PORT": str(http_port),
        "MODELPLANE_HTTP_PORT": str(http_port),
        "MODELPLANE_GRPC_PORT": str(-1 if grpc_port is None else grpc_port),
    }
