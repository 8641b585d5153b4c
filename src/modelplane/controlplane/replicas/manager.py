"""Replicas: the processes that serve each revision, kept at the count the reconciler asks for.

This is the only code in modelplane that starts or kills processes; it plays the ReplicaSet
controller and the kubelet together. `ensure()` states a desired count per (namespace, revision)
and returns at once; one supervisor task per replica (lifecycle.py) then starts, probes,
restarts and finally drains and stops its process. Every visible change (a replica created, ready,
crashed, terminating, gone) calls `on_change()` from the loop, so the gateway and the status
writer can refresh.

Processes survive the control plane (local.py) and are recorded on disk
(records.py); `start()` adopts the ones still running, so a kill -9 of the control plane
loses no replica.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import httpx

from modelplane.controlplane.replicas import backend as backend_
from modelplane.controlplane.replicas import lifecycle, local, records

# The types the reconciler codes against, defined with the lifecycle they describe.
Template = lifecycle.Template
Phase = lifecycle.Phase
Replica = lifecycle.Replica
backoff_delay = lifecycle.backoff_delay

log = logging.getLogger(__name__)

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


class _Stoppable(Protocol):
    @property
    def ready(self) -> bool: ...
    @property
    def phase(self) -> lifecycle.Phase: ...
    @property
    def started_at(self) -> datetime: ...


S = TypeVar("S", bound=_Stoppable)


def choose_to_stop(replicas: Sequence[S], count: int) -> list[S]:
    """The `count` replicas to stop on a scale-down: not ready first (crashed ones before those
    still starting), then the newest, so the longest-serving replicas stay."""
    order = sorted(
        replicas,
        key=lambda r: (r.ready, r.phase is not Phase.BACKOFF, -r.started_at.timestamp()),
    )
    return order[: max(count, 0)]


class ReplicaManager:
    """Keeps each (namespace, revision) at its desired count of ready replica processes."""

    def __init__(
        self,
        home: Path,
        *,
        backend: backend_.ReplicaBackend | None = None,
        on_change: Callable[[], None] = lambda: None,
        in_flight: Callable[[str], int] = lambda name: 0,
        probe_interval: float = 0.2,
        drain_timeout: float = 30.0,
        graceful_timeout: float = 30.0,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        backoff_reset: float = 60.0,
        ready_probe_interval: float = 5.0,
    ) -> None:
        self._home = home
        self._backend: backend_.ReplicaBackend = backend or local.LocalBackend()
        self._on_change = on_change
        self._in_flight = in_flight
        self._timing = lifecycle.Timing(
            probe_interval=probe_interval,
            drain_timeout=drain_timeout,
            graceful_timeout=graceful_timeout,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            backoff_reset=backoff_reset,
            ready_probe_interval=ready_probe_interval,
        )
        self._members: dict[str, lifecycle.Supervisor] = {}
        self._desired: dict[tuple[str, str], tuple[Template, int]] = {}
        self._changed = asyncio.Event()
        self._flush_scheduled = False
        self._closed = False
        self._context: lifecycle.Context | None = None

    async def start(self) -> None:
        """Adopt the replicas an earlier control plane left running, then converge."""
        if self._context is not None:
            return
        await self._backend.start()
        self._context = lifecycle.Context(
            home=self._home,
            timing=self._timing,
            backend=self._backend,
            http=httpx.AsyncClient(trust_env=False),
            notify=self._notify,
            allocate_ports=self._allocate_ports,
            in_flight=self._in_flight,
            forget=self._forget,
        )
        for record in records.read_all(self._home):
            if record.backend != self._backend.name:
                log.warning(
                    "replica %s was started by the %s backend, not %s: not adopted",
                    record.name, record.backend, self._backend.name,
                )  # fmt: skip
                continue
            identity = {
                "pid": record.pid,
                "proc_start": record.proc_start,
                "http_port": record.http_port,
                "grpc_port": record.grpc_port,
                **record.identity,
            }
            output = lifecycle.log_path(self._home, record.namespace, record.name)
            written = max(local.log_size(output) - record.log_offset, 0)
            process = await self._backend.adopt(identity, record.argv, output, written)
            if process is None:
                log.info("replica %s (pid %d) is gone; not adopted", record.name, record.pid)
                records.remove(self._home, record.namespace, record.name)
                continue
            log.info("adopted replica %s (pid %s) on %s", record.name, process.pid, process.node)
            member = lifecycle.Supervisor(
                context=self._context,
                name=record.name,
                namespace=record.namespace,
                revision=record.revision,
                template=Template.from_dict(record.template),
                http_port=record.http_port,
                grpc_port=record.grpc_port,
                started_at=datetime.fromisoformat(record.started_at),
                process=process,
                argv=record.argv,
                host=process.host,
                node=process.node,
                restarts=record.restarts,
                never_ready=record.never_ready,
                log_offset=record.log_offset,
            )
            self._members[member.name] = member
            member.launch()
        if isinstance(self._backend, local.LocalBackend):
            pids = (m.process.pid for m in self._members.values() if m.process is not None)
            keep = {pid for pid in pids if pid is not None}
            await asyncio.to_thread(local.stop_orphans, self._home / "logs", keep)
        self._converge()
        self._notify()

    def ensure(self, namespace: str, revision: str, template: Template, count: int) -> None:
        """Desired state of one revision; returns at once, the supervisors converge."""
        if count < 0:
            raise ValueError(f"replica count must be >= 0, not {count}")
        self._desired[(namespace, revision)] = (template, count)
        self._converge()

    def retain(self, keep: Collection[tuple[str, str]]) -> None:
        """Stop every replica whose (namespace, revision) is not in keep."""
        wanted = set(keep)
        for key in [key for key in self._desired if key not in wanted]:
            del self._desired[key]
        for member in list(self._members.values()):
            if member.key not in wanted:
                member.request_stop()

    def replicas(self, namespace: str, revision: str) -> list[Replica]:
        return [r for r in self.all() if r.namespace == namespace and r.revision == revision]

    def all(self) -> list[Replica]:
        members = sorted(self._members.values(), key=lambda m: (m.started_at, m.name))
        return [m.snapshot() for m in members]

    def find(self, namespace: str, name: str) -> Replica | None:
        member = self._members.get(name)
        return member.snapshot() if member and member.namespace == namespace else None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Return once predicate() holds, re-checked at each change; TimeoutError after timeout."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

    async def close(self, *, stop: bool = True) -> None:
        """stop=True: drain and stop every replica. stop=False: leave them running, recorded,
        for the next control plane to adopt."""
        if self._closed:
            return
        self._closed = True
        members = list(self._members.values())
        for member in members:
            if stop:
                member.request_stop()
            elif member.task is not None:
                member.task.cancel()
        await asyncio.gather(*(m.task for m in members if m.task), return_exceptions=True)
        if self._context is not None:
            await self._context.http.aclose()
            await self._backend.close()

    def _converge(self) -> None:
        if self._context is None or self._closed:
            return
        for (namespace, revision), (template, count) in list(self._desired.items()):
            digest = template.digest()
            live = [
                m
                for m in self._members.values()
                if m.key == (namespace, revision) and not m.stopping.is_set()
            ]
            current = [m for m in live if m.digest == digest]
            outdated = [m for m in live if m.digest != digest]
            for _ in range(count - len(current)):
                current.append(self._create(self._context, namespace, revision, template))
            victims = choose_to_stop(current, len(current) - count)
            # A replaced replica that serves stays until enough new ones are ready.
            serving = [m for m in outdated if m.ready]
            still_needed = max(0, count - sum(m.ready for m in current))
            victims += [m for m in outdated if not m.ready]
            victims += choose_to_stop(serving, len(serving) - still_needed)
            for member in victims:
                member.request_stop()

    def _create(
        self, context: lifecycle.Context, namespace: str, revision: str, template: Template
    ) -> lifecycle.Supervisor:
        name = f"{revision}-{_suffix()}"
        while name in self._members:
            name = f"{revision}-{_suffix()}"
        http_port, grpc_port = self._allocate_ports(template)
        member = lifecycle.Supervisor(
            context=context,
            name=name,
            namespace=namespace,
            revision=revision,
            template=template,
            http_port=http_port,
            grpc_port=grpc_port,
            started_at=datetime.now(UTC),
        )
        self._members[name] = member
        member.launch()
        self._notify()
        return member

    def _forget(self, name: str) -> None:
        self._members.pop(name, None)
        self._notify()

    def _allocate_ports(self, template: Template) -> tuple[int, int | None]:
        taken = {m.http_port for m in self._members.values()}
        taken |= {m.grpc_port for m in self._members.values() if m.grpc_port is not None}
        http_port = local.free_port(taken)
        grpc_port = local.free_port(taken | {http_port}) if template.grpc else None
        return http_port, grpc_port

    def _notify(self) -> None:
        if not self._flush_scheduled:
            # Deferred and coalesced: on_change never runs inside ensure() or retain(), so a
            # reconciler that calls ensure() from on_change cannot recurse.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._converge()
        try:
            self._on_change()
        except Exception:
            log.exception("replica on_change callback failed")
        # Waiters wake after on_change, so they see what it saw and did.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


def _suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
