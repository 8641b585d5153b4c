"""How many replicas a revision wants: Knative's KPA decision, as a pure policy with a clock.

Each tick the reconciler records a sample per revision (average concurrency over the tick, and
requests in it) and asks `desired`. As in Knative: the stable desired count is the metric's
average over the stable window (60 s) over the per-replica target, the panic count the same over
the panic window (6 s). When the panic count reaches `panic_threshold` times the ready replicas
(200%) the revision panics: it follows the panic count up and never scales down until a whole
stable window passes without the condition. Scale rates bound each step (up to 1000x, down to
half), then min and max. A revision goes to zero only with `min_replicas == 0` after
`scale_to_zero_grace` seconds with no request at all; a request at zero (`poke`) wants one
replica at once. No sleeping and no I/O: time comes from the injected clock, so the unit tests
drive it with a fake one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Metric = Literal["concurrency", "rps"]
DEFAULT_CONCURRENCY_TARGET = 100.0
DEFAULT_RPS_TARGET = 200.0
TARGET_UTILIZATION = 0.7


@dataclass(frozen=True)
class Policy:
    metric: Metric
    target: float
    min_replicas: int = 1
    max_replicas: int = 0  # 0 = unbounded
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    scale_to_zero_grace: float = 30.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    initial_scale: int = 1


def default_target(metric: str, scale_target: float | None, container_concurrency: int) -> float:
    """Knative's per-replica target: scaleTarget if given, else 70% of containerConcurrency,
    else 100 concurrent requests (or 200 requests per second for the rps metric)."""
    if scale_target is not None and scale_target > 0:
        return float(scale_target)
    if metric == "rps":
        return DEFAULT_RPS_TARGET
    if container_concurrency > 0:
        return max(container_concurrency * TARGET_UTILIZATION, 1.0)
    return DEFAULT_CONCURRENCY_TARGET


class Cumulative(Protocol):
    """What the gateway's load snapshot offers (gateway.load.RevisionLoad)."""

    @property
    def requests(self) -> int: ...
    @property
    def concurrency_seconds(self) -> float: ...


@dataclass
class _State:
    created: float
    last_activity: float
    samples: deque[tuple[float, float, float]] = field(default_factory=deque)  # t, conc, rps
    last_sample: float | None = None
    previous: tuple[float, int, float] | None = None  # cumulative (t, requests, conc-seconds)
    panic_since: float | None = None
    max_panic: int = 0


class Autoscaler:
    def __init__(self, clock: Callable[[], float], *, tick: float = 1.0) -> None:
        self._clock = clock
        self._tick = tick
        self._states: dict[Hashable, _State] = {}
        self._horizon = 60.0

    def _state(self, key: Hashable) -> _State:
        state = self._states.get(key)
        if state is None:
            now = self._clock()
            state = self._states[key] = _State(created=now, last_activity=now)
        return state

    def record(self, key: Hashable, concurrency: float, requests: int) -> None:
        """One sample: the average concurrency since the last one, and the requests that came."""
        now = self._clock()
        state = self._state(key)
        elapsed = self._tick if state.last_sample is None else now - state.last_sample
        state.last_sample = now
        rps = requests / elapsed if elapsed > 0 else 0.0
        state.samples.append((now, concurrency, rps))
        if concurrency > 0 or requests > 0:
            state.last_activity = now
        while state.samples and state.samples[0][0] <= now - self._horizon:
            state.samples.popleft()

    def observe(self, key: Hashable, load: Cumulative) -> None:
        """Record from cumulative counters (the gateway's `load()`), differencing the last ones."""
        now = self._clock()
        state = self._state(key)
        current = (now, load.requests, load.concurrency_seconds)
        previous, state.previous = state.previous, current
        if previous is None or now <= previous[0]:
            return
        elapsed = now - previous[0]
        concurrency = (current[2] - previous[2]) / elapsed
        self.record(key, max(concurrency, 0.0), max(current[1] - previous[1], 0))

    def poke(self, key: Hashable) -> None:
        """A request arrived for a revision at zero: want a replica now."""
        self._state(key).last_activity = self._clock()

    def forget(self, key: Hashable) -> None:
        self._states.pop(key, None)

    def desired(self, key: Hashable, policy: Policy, ready: int) -> int:
        now = self._clock()
        state = self._state(key)
        self._horizon = max(self._horizon, policy.stable_window)
        stable = self._average(state, policy, policy.stable_window, now)
        if stable is None:  # nothing observed yet: start where the revision was asked to
            return _bounded(
                max(policy.initial_scale, ready, 1 if self._active(state, policy, now) else 0),
                policy,
            )
        panic = self._average(state, policy, policy.panic_window, now) or 0.0
        pods = max(ready, 1)
        up_limit = math.ceil(policy.max_scale_up_rate * pods)
        down_limit = (
            math.floor(pods / policy.max_scale_down_rate) if policy.max_scale_down_rate > 0 else 0
        )
        want_stable = min(max(math.ceil(stable / policy.target), down_limit), up_limit)
        want_panic = min(max(math.ceil(panic / policy.target), down_limit), up_limit)
        over = want_panic / pods >= policy.panic_threshold
        if over:
            if state.panic_since is None:
                state.max_panic = ready
            state.panic_since = now
        elif state.panic_since is not None and now - state.panic_since >= policy.stable_window:
            state.panic_since = None
            state.max_panic = 0
        if state.panic_since is not None:
            state.max_panic = max(state.max_panic, want_panic)
            want = state.max_panic
        else:
            want = want_stable
        if want == 0 and self._active(state, policy, now):
            want = 1
        return _bounded(want, policy)

    def panicking(self, key: Hashable) -> bool:
        state = self._states.get(key)
        return state is not None and state.panic_since is not None

    def _active(self, state: _State, policy: Policy, now: float) -> bool:
        return now - state.last_activity < policy.scale_to_zero_grace

    def _average(self, state: _State, policy: Policy, window: float, now: float) -> float | None:
        index = 1 if policy.metric == "concurrency" else 2
        values = [s[index] for s in state.samples if s[0] > now - window]
        if not values:
            return None if not state.samples else 0.0
        return sum(values) / len(values)


def _bounded(want: int, policy: Policy) -> int:
    want = max(want, policy.min_replicas)
    if policy.max_replicas > 0:
        want = min(want, policy.max_replicas)
    return want
