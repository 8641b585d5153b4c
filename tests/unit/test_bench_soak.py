"""The soak's verdict (bench/soak.py) from made-up samples: what passes, what fails and why.
The soak itself runs for ten minutes under `make soak`, never here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench import soak, soak_load

ARGS = soak.parse(["--duration", "600", "--warmup", "30"])


def samples(rss: Any, fds: Any, end_fds: int = 20) -> list[dict[str, Any]]:
    """A baseline at 30 s, a load sample every 10 s from 40 s to 630 s, an end at 640 s."""
    run = [{"t": 30.0, "phase": "baseline", "procs": {"up": (100.0, 20)}}]
    for t in range(40, 640, 10):
        run.append({"t": float(t), "phase": "load", "procs": {"up": (rss(t), fds(t))}})
    run.append({"t": 640.0, "phase": "end", "procs": {"up": (rss(640), end_fds)}})
    return run


def test_flat_memory_and_fds_pass() -> None:
    result = soak.judge(samples(lambda t: 100 + t % 20 / 10, lambda t: 40), Counter(), ARGS, 30)
    row = result["processes"]["up"]
    assert result["failures"] == []
    assert abs(row["second_half_slope_mib_per_min"]) < 0.5
    assert row["fds_max"] == 40


def test_a_steady_leak_under_the_growth_bound_fails_on_its_slope() -> None:
    leak = soak.judge(samples(lambda t: 100 + 3 * t / 60, lambda t: 40), Counter(), ARGS, 30)
    assert leak["processes"]["up"]["second_half_slope_mib_per_min"] == pytest.approx(3.0)
    assert leak["failures"] == ["up: RSS slope 3.00 MiB/min in the second half"]


def test_single_readings_up_or_down_do_not_move_the_slope() -> None:
    def rss(t: float) -> float:
        return 100 + (15 if t % 70 == 0 else 0) - (8 if t % 110 == 0 else 0)

    result = soak.judge(samples(rss, lambda t: 40), Counter(), ARGS, 30)
    assert result["failures"] == []
    assert result["processes"]["up"]["second_half_slope_mib_per_min"] == pytest.approx(0.0)


def test_a_burst_of_growth_in_the_second_half_fails_on_its_size() -> None:
    burst = soak.judge(samples(lambda t: 100 + (40 if t > 500 else 0), lambda t: 40),
                       Counter(), ARGS, 30)  # fmt: skip
    assert any("grew" in f and "second half" in f for f in burst["failures"])


def test_fds_left_open_and_restarts_fail() -> None:
    result = soak.judge(samples(lambda t: 100, lambda t: 40, end_fds=31), Counter(up=1), ARGS, 30)
    assert result["failures"] == ["up: fds grew from 20 to 31", "up: restarted 1 time(s)"]


def test_a_short_run_is_not_judged_on_its_noisy_slope() -> None:
    short = soak.parse(["--duration", "60"])
    run = [s for s in samples(lambda t: 100 + 3 * t / 60, lambda t: 40) if s["t"] <= 90]
    run.append({"t": 100.0, "phase": "end", "procs": {"up": (103.0, 20)}})
    assert soak.judge(run, Counter(), short, 30)["failures"] == []


def test_errors_are_grouped_by_kind_without_their_particulars() -> None:
    assert soak_load.kind_of("HTTP 503: b'no replica'") == "HTTP 503"
    assert soak_load.kind_of("expected [0, 1]..., got [0, 2]...") == "wrong answer"
    assert soak_load.kind_of("ReadTimeout: timed out") == "ReadTimeout"
