"""Which replica answers: weighted revision, least in flight, containerConcurrency, activator.

One `Balancer` serves HTTP and gRPC alike. A request first picks a revision of its service by
traffic percent, then the replica with the fewest requests in flight (ties rotate). A replica at
its `containerConcurrency` is not picked; when every replica is, the request waits in a bounded
FIFO queue per revision and is handed the next slot that frees (a direct hand-off, so a newcomer
never barges past a waiter). When the revision has no replica at all, the activator asks for one
(`on_demand`, which scales from zero) and holds the request until `set_routes` brings one or the
activation timeout passes, unless the revision's replicas are failing to start: then it is a
503 at once, with the reason. A held request whose revision lost its traffic re-picks, so a rollout
that retires a revision does not strand what was queued for it.

Everything here runs on the gateway's event loop; nothing blocks and nothing is locked.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modelplane.controlplane.gateway import load as load_
from modelplane.controlplane.gateway import routes as routes_


class GatewayError(Exception):
    status = 503
    grpc_code = "UNAVAILABLE"


class NotRouted(GatewayError):
    status = 404
    grpc_code = "NOT_FOUND"


class QueueFull(GatewayError):
    pass


class NoGrpc(GatewayError):
    status = 501
    grpc_code = "UNIMPLEMENTED"


class BadGateway(GatewayError):
    status = 502
    grpc_code = "UNAVAILABLE"


class ActivationTimeout(GatewayError):
    pass


class RevisionFailed(GatewayError):
    """The revision has no READY replica and its replicas fail to start: no point waiting."""


class Deadline(GatewayError):
    status = 504
    grpc_code = "DEADLINE_EXCEEDED"


@dataclass
class _Waiter:
    future: asyncio.Future[routes_.Backend | None]
    excluded: set[str]


@dataclass
class Lease:
    """A slot on one replica of one revision; `Balancer.release` gives it back exactly once."""

    target: routes_.RevisionTarget
    backend: routes_.Backend
    released: bool = field(default=False)


@dataclass
class Ticket:
    """One request's standing: the revision it counts against, replicas that refused it."""

    key: load_.Key | None = None
    excluded: set[str] = field(default_factory=set)


class Balancer:
    def __init__(
        self,
        *,
        on_demand: Callable[[str, str], None],
        activation_timeout: float,
        queue_per_replica: int,
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        self.table = routes_.RouteTable()
        self.load = load_.LoadTracker(clock)
        self._on_demand = on_demand
        self._activation_timeout = activation_timeout
        self._queue_per_replica = queue_per_replica
        self._rng = rng
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._queues: dict[load_.Key, deque[_Waiter]] = {}
        self._changed = asyncio.Event()
        self._turn = itertools.count()

    def in_flight(self, backend_name: str) -> int:
        return self._in_flight.get(backend_name, 0)

    def set_routes(self, routes: Sequence[routes_.ServiceRoute]) -> None:
        self.table = routes_.RouteTable(routes)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for key, queue in list(self._queues.items()):
            target = self.table.revision(key)
            if target is None or not target.backends:
                while queue:  # the held re-decide against the new table
                    waiter = queue.popleft()
                    if not waiter.future.done():
                        waiter.future.set_result(None)
            else:
                self._dispatch(target)
        self.load.forget_idle(self.table.revision_keys())

    async def acquire(
        self, route: routes_.ServiceRoute, ticket: Ticket, deadline: float | None
    ) -> Lease:
        """A slot on a replica of `route`, skipping the replicas that refused this request.

        `deadline` (clock time) bounds a wait in the concurrency queue; the activator's hold is
        bounded by the activation timeout instead. Call `finish(ticket)` once the request ends,
        whatever happened.
        """
        target = route.pick(self._rng)
        if target is None:
            raise NotRouted(f"InferenceService {route.namespace}/{route.name} has no revision")
        if ticket.key is not None:  # a retry keeps to the revision it counted against
            target = self.table.revision(ticket.key) or target
        activation_deadline: float | None = None
        demanded: set[load_.Key] = set()
        while True:
            current = self.table.service(route.namespace, route.name)
            if current is None:
                raise NotRouted(f"InferenceService {route.namespace}/{route.name} is gone")
            fresh = current.target(target.revision)
            if fresh is None or (not fresh.backends and fresh.percent <= 0):
                fresh = current.pick(self._rng)
                if fresh is None:
                    raise NotRouted(f"{route.namespace}/{route.name} has no revision")
            target = fresh
            self._count(ticket, target.key)
            candidates = [b for b in target.backends if b.name not in ticket.excluded]
            if not candidates:
                if target.failure is not None and not target.backends:
                    raise RevisionFailed(
                        f"revision {target.namespace}/{target.revision} cannot serve: "
                        f"{target.failure}"
                    )
                if target.key not in demanded:
                    demanded.add(target.key)
                    self._on_demand(target.namespace, target.revision)
                if activation_deadline is None:
                    activation_deadline = self._clock() + self._activation_timeout
                await self._hold(target, activation_deadline)
                ticket.excluded.clear()
                continue
            backend = self._pick(target, candidates)
            if backend is None:
                backend = await self._queue(target, ticket.excluded, deadline)
                if backend is None:
                    continue
            else:
                self._in_flight[backend.name] = self._in_flight.get(backend.name, 0) + 1
            return Lease(target, backend)

    def _count(self, ticket: Ticket, key: load_.Key) -> None:
        if ticket.key == key:
            return
        if ticket.key is not None:
            self.load.leave(ticket.key)
        self.load.enter(key, new_request=ticket.key is None)
        ticket.key = key

    def release(self, lease: Lease) -> None:
        """Give the replica slot back (the request may go on, to retry elsewhere)."""
        if lease.released:
            return
        lease.released = True
        name = lease.backend.name
        self._in_flight[name] = self._in_flight.get(name, 1) - 1
        target = self.table.revision(lease.target.key)
        if target is not None and target.key in self._queues:
            self._dispatch(target)

    def finish(self, ticket: Ticket) -> None:
        """The request is over: it no longer counts as load."""
        if ticket.key is not None:
            self.load.leave(ticket.key)
            ticket.key = None

    def _pick(
        self, target: routes_.RevisionTarget, candidates: Sequence[routes_.Backend]
    ) -> routes_.Backend | None:
        limit = target.container_concurrency
        best: routes_.Backend | None = None
        best_load = 0
        start = next(self._turn)
        count = len(candidates)
        for i in range(count):
            backend = candidates[(start + i) % count]
            busy = self._in_flight.get(backend.name, 0)
            if limit and busy >= limit:
                continue
            if best is None or busy < best_load:
                best, best_load = backend, busy
        return best

    async def _hold(self, target: routes_.RevisionTarget, activation_deadline: float) -> None:
        left = activation_deadline - self._clock()
        changed = self._changed
        try:
            if left <= 0:
                raise TimeoutError
            await asyncio.wait_for(changed.wait(), left)
        except TimeoutError:
            raise ActivationTimeout(
                f"no replica of revision {target.namespace}/{target.revision} became ready "
                f"within {self._activation_timeout:g}s"
            ) from None

    async def _queue(
        self, target: routes_.RevisionTarget, excluded: set[str], deadline: float | None
    ) -> routes_.Backend | None:
        queue = self._queues.setdefault(target.key, deque())
        limit = self._queue_per_replica * len(target.backends)
        if len(queue) >= limit:
            raise QueueFull(
                f"revision {target.namespace}/{target.revision}: every replica is at its "
                f"containerConcurrency ({target.container_concurrency}) and the queue "
                f"({limit}) is full"
            )
        future: asyncio.Future[routes_.Backend | None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, excluded)
        queue.append(waiter)
        timeout = None if deadline is None else max(deadline - self._clock(), 0.0)
        try:
            done, _ = await asyncio.wait({future}, timeout=timeout)
        except BaseException:
            self._abandon(target.key, waiter)
            raise
        if not done:
            self._abandon(target.key, waiter)
            raise Deadline(f"timed out waiting for a free replica of {target.revision}")
        return future.result()

    def _abandon(self, key: load_.Key, waiter: _Waiter) -> None:
        if waiter.future.done() and not waiter.future.cancelled():
            backend = waiter.future.result()
            if backend is not None:  # handed a slot just as it gave up: pass it on
                self._in_flight[backend.name] -= 1
                target = self.table.revision(key)
                if target is not None:
                    self._dispatch(target)
            return
        waiter.future.cancel()
        queue = self._queues.get(key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)

    def _dispatch(self, target: routes_.RevisionTarget) -> None:
        """Hand free slots of `target` to its queue's waiters, first come first served."""
        queue = self._queues.get(target.key)
        while queue:
            waiter = queue[0]
            if waiter.future.done():
                queue.popleft()
                continue
            candidates = [b for b in target.backends if b.name not in waiter.excluded]
            if not candidates:
                queue.popleft()
                waiter.future.set_result(None)
                continue
            backend = self._pick(target, candidates)
            if backend is None:
                break
            queue.popleft()
            self._in_flight[backend.name] = self._in_flight.get(backend.name, 0) + 1
            waiter.future.set_result(backend)
        if queue is not None and not queue:
            del self._queues[target.key]
