"""Per-revision load for the autoscaler: in flight now, requests so far, concurrency-time.

Knative's autoscaler works on concurrency averaged over a window, and counts requests the
activator or the queue holds: those are what must drive a revision up from zero. So a request
counts against its revision from the moment it is routed there, held or not, until its answer
ends. `concurrency_seconds` integrates in-flight over time, so the average concurrency between
two snapshots is the difference of their integrals over the difference of their times, whatever
the sampling rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str]  # (namespace, revision)


@dataclass(frozen=True)
class RevisionLoad:
    in_flight: int
    requests: int  # cumulative since the gateway started
    concurrency_seconds: float  # integral of in_flight over time, cumulative
    at: float  # the clock's time of this snapshot

    def average_since(self, earlier: RevisionLoad) -> tuple[float, float]:
        """(average concurrency, requests per second) between an earlier snapshot and this one."""
        elapsed = self.at - earlier.at
        if elapsed <= 0:
            return float(self.in_flight), 0.0
        concurrency = (self.concurrency_seconds - earlier.concurrency_seconds) / elapsed
        return concurrency, (self.requests - earlier.requests) / elapsed


class _Counter:
    __slots__ = ("in_flight", "integral", "last", "requests")

    def __init__(self, now: float) -> None:
        self.in_flight = 0
        self.requests = 0
        self.integral = 0.0
        self.last = now

    def advance(self, now: float) -> None:
        self.integral += self.in_flight * (now - self.last)
        self.last = now


class LoadTracker:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._counters: dict[Key, _Counter] = {}

    def enter(self, key: Key, *, new_request: bool = True) -> None:
        """A request is now routed to `key` (a new one, or one moved from another revision)."""
        now = self._clock()
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(now)
        counter.advance(now)
        counter.in_flight += 1
        if new_request:
            counter.requests += 1

    def leave(self, key: Key) -> None:
        counter = self._counters.get(key)
        if counter is None:
            return
        counter.advance(self._clock())
        counter.in_flight -= 1

    def in_flight(self, key: Key) -> int:
        counter = self._counters.get(key)
        return counter.in_flight if counter is not None else 0

    def snapshot(self) -> dict[Key, RevisionLoad]:
        now = self._clock()
        out: dict[Key, RevisionLoad] = {}
        for key, counter in self._counters.items():
            counter.advance(now)
            out[key] = RevisionLoad(counter.in_flight, counter.requests, counter.integral, now)
        return out

    def forget_idle(self, keep: set[Key]) -> None:
        """Drop counters of revisions no longer routed and with nothing in flight."""
        for key in [k for k, c in self._counters.items() if k not in keep and c.in_flight == 0]:
            del self._counters[key]
