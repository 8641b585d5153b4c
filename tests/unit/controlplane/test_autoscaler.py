"""The KPA policy driven by a fake clock and synthetic samples: no sleeping, no sockets."""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.controlplane import autoscaler

KEY = ("default", "iris-predictor-00001")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**overrides: object) -> tuple[FakeClock, autoscaler.Autoscaler, autoscaler.Policy]:
    clock = FakeClock()
    fields: dict[str, object] = {"metric": "concurrency", "target": 10.0, "min_replicas": 1}
    fields.update(overrides)
    return clock, autoscaler.Autoscaler(clock), autoscaler.Policy(**fields)  # type: ignore[arg-type]


def run(
    clock: FakeClock,
    scaler: autoscaler.Autoscaler,
    policy: autoscaler.Policy,
    *,
    seconds: int,
    concurrency: float,
    ready: int,
    rps: int = 0,
) -> list[int]:
    """Tick once a second; the ready count follows the desired count (an instant scaler)."""
    answers = []
    for _ in range(seconds):
        clock.now += 1.0
        scaler.record(KEY, concurrency, rps)
        want = scaler.desired(KEY, policy, ready)
        answers.append(want)
        ready = want
    return answers


def test_steady_load_gives_load_over_target() -> None:
    clock, scaler, policy = make()
    answers = run(clock, scaler, policy, seconds=120, concurrency=35.0, ready=4)
    assert answers[-1] == 4  # ceil(35 / 10)
    assert set(answers) == {4}
    assert not scaler.panicking(KEY)


def test_burst_panics_and_scales_within_the_panic_window() -> None:
    clock, scaler, policy = make()
    run(clock, scaler, policy, seconds=60, concurrency=10.0, ready=1)
    answers = run(clock, scaler, policy, seconds=6, concurrency=100.0, ready=1)
    # The stable window alone would still say about 2: the panic window sees the burst.
    assert answers[-1] >= 10
    assert scaler.panicking(KEY)


def test_no_scale_down_while_panicking() -> None:
    clock, scaler, policy = make()
    run(clock, scaler, policy, seconds=60, concurrency=10.0, ready=1)
    peak = run(clock, scaler, policy, seconds=6, concurrency=100.0, ready=1)[-1]
    after = run(clock, scaler, policy, seconds=30, concurrency=5.0, ready=peak)
    assert all(want >= peak for want in after)
    assert scaler.panicking(KEY)
    # A whole stable window without the condition ends the panic, and scale-down resumes.
    later = run(clock, scaler, policy, seconds=120, concurrency=5.0, ready=peak)
    assert not scaler.panicking(KEY)
    assert later[-1] == 1


def test_scale_down_rate_halves_at_most_each_step() -> None:
    clock, scaler, policy = make(stable_window=10.0, panic_window=1.0)
    run(clock, scaler, policy, seconds=20, concurrency=80.0, ready=8)
    clock.now += 1.0
    scaler.record(KEY, 0.0, 0)
    for _ in range(10):
        clock.now += 1.0
        scaler.record(KEY, 0.0, 0)
    assert scaler.desired(KEY, policy, 8) == 4


def test_idle_goes_to_zero_only_after_the_grace_with_min_zero() -> None:
    clock, scaler, policy = make(min_replicas=0, stable_window=10.0, scale_to_zero_grace=30.0)
    run(clock, scaler, policy, seconds=5, concurrency=3.0, ready=1)
    idle = run(clock, scaler, policy, seconds=29, concurrency=0.0, ready=1)
    assert all(want == 1 for want in idle)
    assert run(clock, scaler, policy, seconds=2, concurrency=0.0, ready=1)[-1] == 0


def test_never_below_min() -> None:
    clock, scaler, policy = make(min_replicas=2, stable_window=10.0, scale_to_zero_grace=5.0)
    answers = run(clock, scaler, policy, seconds=100, concurrency=0.0, ready=2)
    assert set(answers) == {2}


def test_a_request_at_zero_wants_a_replica_at_once() -> None:
    clock, scaler, policy = make(min_replicas=0, stable_window=10.0, scale_to_zero_grace=5.0)
    assert run(clock, scaler, policy, seconds=30, concurrency=0.0, ready=1)[-1] == 0
    scaler.poke(KEY)
    assert scaler.desired(KEY, policy, 0) == 1
    # and the activator's held request, counted as concurrency, keeps it wanted
    clock.now += 1.0
    scaler.record(KEY, 1.0, 1)
    assert scaler.desired(KEY, policy, 0) >= 1


def test_max_bound() -> None:
    clock, scaler, policy = make(max_replicas=3)
    answers = run(clock, scaler, policy, seconds=70, concurrency=500.0, ready=1)
    assert max(answers) == 3
    assert answers[-1] == 3


def test_scale_up_rate_bounds_one_step() -> None:
    clock, scaler, policy = make(max_scale_up_rate=2.0)
    clock.now += 1.0
    scaler.record(KEY, 1000.0, 0)
    assert scaler.desired(KEY, policy, 3) == 6


def test_rps_metric() -> None:
    clock, scaler, policy = make(metric="rps", target=50.0)
    answers = run(clock, scaler, policy, seconds=60, concurrency=1.0, ready=1, rps=220)
    assert answers[-1] == 5  # ceil(220 / 50), though concurrency alone would want one


def test_new_revision_starts_at_initial_scale() -> None:
    _clock, scaler, policy = make(min_replicas=0, initial_scale=2)
    assert scaler.desired(KEY, policy, 0) == 2


def test_forget_drops_state() -> None:
    clock, scaler, policy = make(min_replicas=0, stable_window=5.0, scale_to_zero_grace=5.0)
    run(clock, scaler, policy, seconds=20, concurrency=50.0, ready=5)
    scaler.forget(KEY)
    assert scaler.desired(KEY, policy, 0) == policy.initial_scale


@dataclass
class Snapshot:
    requests: int
    concurrency_seconds: float


def test_observe_differences_cumulative_counters() -> None:
    clock, scaler, policy = make(stable_window=10.0)
    total_requests, integral = 0, 0.0
    for _ in range(12):
        clock.now += 2.0
        total_requests += 40
        integral += 25.0 * 2.0  # 25 concurrent for two seconds
        scaler.observe(KEY, Snapshot(total_requests, integral))
    assert scaler.desired(KEY, policy, 3) == 3  # ceil(25 / 10)
    rps = autoscaler.Policy(metric="rps", target=5.0, stable_window=10.0)
    assert scaler.desired(KEY, rps, 4) == 4  # 20 rps / 5


def test_default_targets_follow_knative() -> None:
    assert autoscaler.default_target("concurrency", None, 0) == 100.0
    assert autoscaler.default_target("concurrency", None, 10) == 7.0
    assert autoscaler.default_target("concurrency", 3, 10) == 3.0
    assert autoscaler.default_target("rps", None, 0) == 200.0
    assert autoscaler.default_target("rps", 50, 0) == 50.0
