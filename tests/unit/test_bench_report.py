"""`make bench`'s goals table: each goal's verdict from a run's results, and a line saying
where the time goes under every goal missed (bench/report.py)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from bench import report


def _run(rps: float, p99: float = 10.0) -> dict[str, Any]:
    median = {"rps": rps, "p50_ms": 1.0, "p99_ms": p99, "errors": {}, "gen_cpu": 0.1}
    median |= {"requests": int(rps * 5), "srv_cpu": 1.0}
    return {"rounds": [{"foreign_srv": 0.0, "gen_cpu": 0.1}], "median": median}


def results() -> dict[str, Any]:
    runs = {
        "v1-2r-c1@modelplane/iris": _run(3000),
        "v1-2r-c1-batch@modelplane/batch": _run(2990),  # matches
        "v2-2r-c1@modelplane/iris": _run(3000),
        "v2-2r-c1-batch@modelplane/batch": _run(2000),  # does not
        "v1-2r-c64@modelplane/iris": _run(4000, 20.0),
        "v1-2r-c64@kserve/iris": _run(1000, 40.0),
        "v1-2r-c64-batch@modelplane/batch": _run(15000, 7.0),
        "v1-2r-c64-batch-nolog@modelplane/batch-nolog": _run(15200, 6.0),
    }
    gateway = {
        "c64": {"direct": {"median": {"rps": 4000.0}}, "gateway": {"median": {"rps": 2000.0}}}
    }
    return {
        "runs": runs,
        "starts": {},
        "control_plane": {"gateway": gateway, "scale-from-zero": {"warm": [0.3, 0.25, 0.4]}},
    }


def test_each_goal_gets_its_verdict_from_the_figures() -> None:
    verdicts = {name: (measured, met) for name, _, measured, met in report.targets(results())}
    assert verdicts["batching V1 1 conn req/s vs unbatched"] == ("1.00x", True)
    assert verdicts["batching V2 1 conn req/s vs unbatched"] == ("0.67x", False)
    assert verdicts["batching gRPC 1 conn req/s vs unbatched"] == ("not measured", None)
    assert verdicts["V1 c64 req/s vs KServe"] == ("4.00x", True)
    assert verdicts["batching V1 c64 req/s vs KServe"] == ("15.00x", False)
    assert verdicts["batching V1 c64 p99"] == ("7.00 ms", False)
    assert verdicts["access log on vs off, batching V1 c64"] == ("0.99x", True)
    assert verdicts["first answer after scale to zero"] == ("0.30 s", True)
    assert verdicts["gateway c64 req/s vs its replica direct"] == ("0.50x", False)
    assert verdicts["V1 c64 p99 vs KServe"] == ("0.50x", False)


def test_every_goal_missed_is_explained_under_the_table() -> None:
    out = io.StringIO()
    report.render_targets(results(), Console(file=out, width=4000))
    text = out.getvalue()
    missed = [name for name, _, _, met in report.targets(results()) if met is False]
    assert len(missed) == 5
    explained = text.split("what would close it:")[1]
    for name in missed:
        line = next(line for line in explained.splitlines() if line.startswith(f"- {name}:"))
        assert "bench/NOTES.md" in line and "no profile recorded" not in line
    # the lines come from the right entry: the 1-connection goal is not explained as c64's
    v2_line = next(line for line in explained.splitlines() if "V2 1 conn" in line)
    assert "loop turn" in v2_line
    gateway_line = next(line for line in explained.splitlines() if "gateway c64" in line)
    assert "proxied request" in gateway_line
