"""One replica's life: the template it runs, its phases, its snapshot, and the task that walks it
through them.

A Supervisor is one asyncio task per replica, like a kubelet's pod worker: it starts the process
(STARTING), probes readiness until the first 200 (READY), watches for the exit, and after an exit
waits out an exponential backoff (BACKOFF) and starts it again on fresh ports. When asked to stop
it drains (TERMINATING: wait until the gateway has no request in flight to it), sends SIGTERM,
SIGKILL after a grace period, and forgets the replica. The replica set (replicas.py) decides which
supervisors live; a supervisor decides nothing about other replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from modelplane.controlplane.replicas import backend, local, records

log = logging.getLogger(__name__)

_EXIT_POLL = 0.02
_KILL_WAIT = 10.0
_PROBE_TIMEOUT = 1.0
# Once ready, as Kubernetes' readiness probe does by default: a probe every few seconds
# (Timing.ready_probe_interval), and out of the routes after three failures in a row.
_READY_PROBE_TIMEOUT = 5.0
_READY_FAILURES = 3


@dataclass(frozen=True)
class Template:
    """How to run one replica. argv may hold `{http_port}` and `{grpc_port}` placeholders."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    readiness_path: str | None = "/v2/health/ready"  # None: a TCP connect to the HTTP port
    grpc: bool = True  # allocate a gRPC port too
    resources: Mapping[str, Any] = field(default_factory=dict)  # a container's, as written

    def digest(self) -> str:
        return _digest(self.to_dict())

    def env_digest(self) -> str:
        return _digest(dict(self.env))

    def to_dict(self) -> dict[str, Any]:
        raw = {
            "argv": list(self.argv),
            "env": dict(sorted(self.env.items())),
            "readiness_path": self.readiness_path,
            "grpc": self.grpc,
        }
        if self.resources:  # absent when empty: the digest of a template without stays as it was
            raw["resources"] = dict(self.resources)
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Template:
        return cls(
            argv=tuple(raw["argv"]),
            env=dict(raw["env"]),
            readiness_path=raw["readiness_path"],
            grpc=bool(raw["grpc"]),
            resources=dict(raw.get("resources") or {}),
        )

    def render(self, http_port: int, grpc_port: int | None) -> tuple[str, ...]:
        return local.render(self.argv, http_port, grpc_port)


@dataclass(frozen=True)
class Exited:
    """A replica's last run, ended: a container status's `lastState.terminated`."""

    termination: backend.Termination
    started_at: datetime
    finished_at: datetime


class Phase(enum.StrEnum):
    PENDING = "Pending"  # no node can take it yet
    STARTING = "Starting"
    READY = "Ready"
    BACKOFF = "BackOff"  # crashed, waiting to restart
    TERMINATING = "Terminating"


@dataclass
class Replica:
    """A snapshot of one replica."""

    name: str
    namespace: str
    revision: str
    http_port: int
    grpc_port: int | None
    pid: int | None
    phase: Phase
    restarts: int
    started_at: datetime  # when the replica was created (its AGE), not the last restart
    ready: bool
    last_failure: str | None  # "exit code 1: <its last log lines>"
    never_ready: bool
    log_path: Path
    host: str = "127.0.0.1"  # where it answers
    node: str = ""  # the machine it runs on
    pending_reason: str | None = None  # why no node takes it, while PENDING
    last_exit: Exited | None = None  # how its last run ended, once one has


def backoff_delay(failures: int, base: float, maximum: float) -> float:
    """Seconds to wait before restarting after `failures` earlier consecutive crashes."""
    return float(min(base * 2 ** min(failures, 64), maximum))


@dataclass(frozen=True)
class Timing:
    probe_interval: float
    drain_timeout: float
    graceful_timeout: float
    backoff_base: float
    backoff_max: float
    backoff_reset: float  # ready this long: the next crash backs off from backoff_base again
    ready_probe_interval: float = 5.0  # once ready, as Kubernetes' periodSeconds


@dataclass(frozen=True)
class Context:
    """What a supervisor needs from the replica set that owns it."""

    home: Path
    timing: Timing
    backend: backend.ReplicaBackend
    http: httpx.AsyncClient
    notify: Callable[[], None]
    allocate_ports: Callable[[Template], tuple[int, int | None]]
    in_flight: Callable[[str], int]
    forget: Callable[[str], None]


@dataclass(eq=False)
class Supervisor:
    """The state of one replica and the task that drives its process."""

    context: Context
    name: str
    namespace: str
    revision: str
    template: Template
    http_port: int
    grpc_port: int | None
    started_at: datetime
    process: backend.Running | None = None
    argv: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    node: str = ""
    pending_reason: str | None = None
    phase: Phase = Phase.STARTING
    ready: bool = False
    restarts: int = 0
    failures: int = 0  # consecutive crashes, for the backoff
    never_ready: bool = True
    last_failure: str | None = None
    last_exit: Exited | None = None
    run_started: datetime | None = None
    log_offset: int = 0
    ready_since: float = 0.0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.revision)

    @property
    def digest(self) -> str:
        return self.template.digest()

    @property
    def log_path(self) -> Path:
        return log_path(self.context.home, self.namespace, self.name)

    def snapshot(self) -> Replica:
        return Replica(
            name=self.name,
            namespace=self.namespace,
            revision=self.revision,
            http_port=self.http_port,
            grpc_port=self.grpc_port,
            pid=None if self.process is None else self.process.pid,
            phase=self.phase,
            restarts=self.restarts,
            started_at=self.started_at,
            ready=self.ready,
            last_failure=self.last_failure,
            never_ready=self.never_ready,
            log_path=self.log_path,
            host=self.host,
            node=self.node,
            pending_reason=self.pending_reason,
            last_exit=self.last_exit,
        )

    def launch(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"replica {self.name}")

    def request_stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        # Visible at once, so the gateway stops routing before the drain starts.
        self.phase, self.ready = Phase.TERMINATING, False
        self.context.notify()

    async def _run(self) -> None:
        timing = self.context.timing
        try:
            while not self.stopping.is_set():
                if self.process is None:
                    await self._spawn()
                    if self.stopping.is_set():
                        break
                if self.process is not None:
                    await self._watch(self.process)
                    if self.stopping.is_set():
                        break
                    await self._exited(self.process)
                    self.process = None
                    if self.ready and time.monotonic() - self.ready_since >= timing.backoff_reset:
                        self.failures = 0  # it served a good while: this is a fresh crash
                self.phase, self.ready = Phase.BACKOFF, False
                self.context.notify()
                delay = backoff_delay(self.failures, timing.backoff_base, timing.backoff_max)
                self.failures += 1
                if await self._stop_within(delay):
                    break
                self.restarts += 1
                # Fresh ports: the likeliest crash at start-up is a port taken meanwhile.
                self.http_port, self.grpc_port = self.context.allocate_ports(self.template)
            await self._terminate()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("supervising replica %s failed", self.name)
            raise

    async def _spawn(self) -> None:
        """Start the process where the backend places it; while no node can take it, PENDING.

        Returns with `self.process` set, or unset after a failure to start (recorded in
        `last_failure`) or a stop requested while it waited for a node.
        """
        try:
            demand = backend.Demand.of(self.template.resources)
            limits = backend.Limits.of(self.template.resources)
        except ValueError as exc:
            self.last_failure = f"invalid resources: {exc}"
            return
        launch = backend.Launch(
            name=self.name,
            attempt=self.restarts,
            namespace=self.namespace,
            argv=self.template.argv,
            env=self.template.env,
            grpc=self.template.grpc,
            ports=(self.http_port, self.grpc_port),
            log_path=self.log_path,
            demand=demand,
            limits=limits,
        )
        self.log_offset = local.log_size(self.log_path)

        def pending(reason: str) -> None:
            if reason != self.pending_reason:
                self.phase, self.ready, self.pending_reason = Phase.PENDING, False, reason
                log.info("replica %s is pending: %s", self.name, reason)
                self.context.notify()

        started = asyncio.ensure_future(self.context.backend.launch(launch, pending))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({started, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not started.done():  # asked to stop while it waited for a node
            started.cancel()
            await asyncio.gather(started, return_exceptions=True)
            return
        try:
            process = started.result()
        except OSError as exc:
            self.last_failure = f"cannot start {self.template.argv[0]!r}: {exc}"
            log.warning("replica %s: %s", self.name, self.last_failure)
            return
        self.process, self.argv, self.pending_reason = process, process.argv, None
        self.host, self.node = process.host, process.node
        self.run_started = datetime.now(UTC)
        self.http_port, self.grpc_port = process.http_port, process.grpc_port
        log.info("replica %s started (pid %s) on %s", self.name, process.pid, self.node)
        self.phase, self.ready = Phase.STARTING, False
        self.record()
        self.context.notify()

    async def _watch(self, process: backend.Running) -> None:
        """Probe readiness until ready; then keep probing, slowly, so a replica that hangs
        (a deadlock, a stuck event loop) leaves the routes; return on exit or stop."""
        failures = 0
        while not self.stopping.is_set() and not process.exited():
            if not self.ready:
                if await self._probe() and not process.exited() and not self.stopping.is_set():
                    self._became_ready()
                    failures = 0
                await self._stop_within(self.context.timing.probe_interval)
                continue
            # Between probes, look for an exit often (a crash, a lost node): it is cheap, and
            # the sooner it is seen the sooner the replica is started again.
            next_probe = time.monotonic() + self.context.timing.ready_probe_interval
            while time.monotonic() < next_probe and not process.exited():
                if await self._stop_within(self.context.timing.probe_interval):
                    return
            if self.stopping.is_set() or process.exited():
                return
            # A generous timeout: a replica busy under load is slow, not gone.
            failures = 0 if await self._probe(_READY_PROBE_TIMEOUT) else failures + 1
            if failures >= _READY_FAILURES and not self.stopping.is_set():
                log.warning(
                    "replica %s failed %d readiness probes in a row: out of the routes until "
                    "it answers again", self.name, failures,
                )  # fmt: skip
                self.phase, self.ready = Phase.STARTING, False
                self.context.notify()

    async def _probe(self, timeout: float = _PROBE_TIMEOUT) -> bool:
        path = self.template.readiness_path
        if path is None:
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(self.host, self.http_port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True
            except (OSError, TimeoutError):
                return False
        url = f"http://{self.host}:{self.http_port}{path}"
        try:
            response = await self.context.http.get(url, timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _became_ready(self) -> None:
        self.phase, self.ready = Phase.READY, True
        self.ready_since = time.monotonic()
        if self.never_ready:
            self.never_ready = False
            self.record()
        log.info("replica %s ready on port %d", self.name, self.http_port)
        self.context.notify()

    async def _exited(self, process: backend.Running) -> None:
        await process.settle()
        tail = local.log_tail(self.log_path, self.log_offset)
        how = process.describe_exit()
        self.last_failure = f"{how}: {tail}" if tail else how
        finished = datetime.now(UTC)
        self.last_exit = Exited(process.termination(), self.run_started or finished, finished)
        log.warning("replica %s %s", self.name, how)
        # Sweep whatever the process left in its group (workers of a dead leader).
        process.send(signal.SIGKILL)

    async def _terminate(self) -> None:
        timing = self.context.timing
        if self.phase is not Phase.TERMINATING or self.ready:
            self.phase, self.ready = Phase.TERMINATING, False
            self.context.notify()
        process = self.process
        if process is not None and not process.exited():
            deadline = time.monotonic() + timing.drain_timeout
            while self._in_flight() > 0 and time.monotonic() < deadline:
                await asyncio.sleep(min(timing.probe_interval, 0.05))
            process.send(signal.SIGTERM)
            if not await _exits_within(process, timing.graceful_timeout):
                log.warning("replica %s ignored SIGTERM; killing it", self.name)
                process.send(signal.SIGKILL)
                await _exits_within(process, _KILL_WAIT)
            process.send(signal.SIGKILL)
        if process is not None:
            await process.settle()
        log.info("replica %s stopped", self.name)
        records.remove(self.context.home, self.namespace, self.name)
        self.context.forget(self.name)

    def _in_flight(self) -> int:
        try:
            return self.context.in_flight(self.name)
        except Exception:
            log.exception("in_flight(%r) failed; not waiting for a drain", self.name)
            return 0

    async def _stop_within(self, seconds: float) -> bool:
        """Wait up to seconds; True as soon as a stop is requested."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        return self.stopping.is_set()

    def record(self) -> None:
        assert self.process is not None
        identity = self.process.identity()
        records.write(
            self.context.home,
            records.Record(
                name=self.name,
                namespace=self.namespace,
                revision=self.revision,
                pid=self.process.pid or 0,
                proc_start=identity.pop("proc_start", None),
                argv=self.argv,
                template=self.template.to_dict(),
                template_digest=self.digest,
                env_digest=self.template.env_digest(),
                http_port=self.http_port,
                grpc_port=self.grpc_port,
                restarts=self.restarts,
                started_at=self.started_at.isoformat(),
                never_ready=self.never_ready,
                log_offset=self.log_offset,
                backend=self.context.backend.name,
                host=self.host,
                node=self.node,
                identity=identity,
            ),
        )


def log_path(home: Path, namespace: str, name: str) -> Path:
    return home / "logs" / namespace / f"{name}.log"


async def _exits_within(process: backend.Running, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not process.exited():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_EXIT_POLL)
    return True


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
