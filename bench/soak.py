"""The soak: `modelplane up`'s gateway and replicas under mixed load, RSS, fds and errors watched.

Ten minutes of it (`--duration`), so that a leak shows as a number instead of an outage.

`python -m bench.soak` (`make soak`) starts a control plane on free loopback ports with two
InferenceServices pinned to one replica each: sklearn iris (trained here) and the custom echo
model of tests/support/echo_model.py (it answers `{"id", "bytes"}`, so every client can tell its
own answer). Bounded concurrent clients then mix every kind of exchange through the gateway,
each answer checked (bench/soak_load.py).

Every `--interval` seconds the RSS and open fds of the `up` process and of each replica are
sampled. The baseline is taken after `--warmup` seconds of load (two minutes: a replica's RSS
climbs to the high-water mark of its concurrent large bodies for a few minutes, then holds), the
end after the run, both with the clients gone and the fd counts settled. RSS growth is the
Theil-Sen slope (robust to single readings) over the second half of the run. The run fails when
any error happened, a replica restarted, that slope times the half's length is over
`--max-growth-mib`, the slope is over `--max-slope` MiB/min (second halves of 4 minutes or more
only: a shorter one is too noisy), or fds grew by more than `--max-fd-growth`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import yaml
from rich.console import Console
from rich.table import Table

from bench import soak_load

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
PROGRESS_EVERY = 10.0  # seconds between progress lines (samples are more frequent)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)  # a log file

# -- the processes ------------------------------------------------------------------------


class Processes:
    """The `up` process and its replicas (labelled by model name), sampled through psutil.
    A replica whose pid changes has restarted, and that is counted."""

    def __init__(self, up_pid: int) -> None:
        self.up = psutil.Process(up_pid)
        self.pids: dict[str, int] = {}
        self.restarts: Counter[str] = Counter()
        self.samples: list[dict[str, Any]] = []

    def current(self) -> dict[str, psutil.Process]:
        found = {"up (gateway)": self.up}
        for child in self.up.children(recursive=True):
            try:
                line = " ".join(child.cmdline())
            except psutil.Error:
                continue
            name = re.search(r"--model-name[= ](\S+)", line)
            if name:
                found[name.group(1)] = child
        for label, proc in found.items():
            if label in self.pids and self.pids[label] != proc.pid:
                self.restarts[label] += 1
            self.pids[label] = proc.pid
        return found

    def read(self) -> dict[str, tuple[float, int]]:
        """label -> (RSS MiB, open fds)."""
        read = {}
        for label, proc in self.current().items():
            try:
                read[label] = (proc.memory_info().rss / MIB, proc.num_fds())
            except psutil.Error:
                continue
        return read

    def sample(self, t: float, phase: str, **extra: Any) -> dict[str, Any]:
        entry = {"t": round(t, 1), "phase": phase, "procs": self.read(), **extra}
        self.samples.append(entry)
        return entry

    def sockets(self) -> dict[str, dict[str, int]]:
        """label -> TCP sockets by state: a count that grows in CLOSE_WAIT is a socket the
        peer closed and the process never did."""
        found: dict[str, dict[str, int]] = {}
        for label, proc in self.current().items():
            try:
                states = Counter(c.status for c in proc.connections(kind="tcp"))
            except psutil.Error:
                continue
            found[label] = dict(sorted(states.items()))
        return found

    async def settled(self, quiet: float = 8.0, limit: float = 60.0) -> None:
        """Wait until no fd count has changed for `quiet` s (or `limit` s): the clients are
        gone, and so are the pooled upstream connections a replica closes once idle (uvicorn's
        keep-alive is 5 s)."""
        loop = asyncio.get_running_loop()
        last, since, end = None, loop.time(), loop.time() + limit
        while loop.time() < end and loop.time() - since < quiet:
            fds = {k: v[1] for k, v in self.read().items()}
            if fds != last:
                last, since = fds, loop.time()
            await asyncio.sleep(0.5)  # a poll interval


def start(work: Path, model_dir: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    """`modelplane up` on free loopback ports with both services applied, each answering 200
    through the gateway; the process, its REST and its gRPC port."""
    from tests.support.manifests import isvc, sklearn_isvc

    one = "    minReplicas: 1\n    maxReplicas: 1\n"
    manifests = work / "manifests"
    manifests.mkdir()
    (manifests / "iris.yaml").write_text(sklearn_isvc(soak_load.IRIS, model_dir, one))
    container = {"name": "kserve-container", "image": "modelplane",
                 "args": ["serve", f"--model-name={soak_load.ECHO}",
                          "--model-class=tests.support.echo_model:EchoModel"]}  # fmt: skip
    echo = isvc({"minReplicas": 1, "maxReplicas": 1, "containers": [container]}, soak_load.ECHO)
    (manifests / "echo.yaml").write_text(yaml.safe_dump(echo))
    log = work / "up.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane.cli", "up", "--home", str(work / "home"),
         "--host", "127.0.0.1", "--api-port", "0", "--http-port", "0", "--grpc-port", "0",
         "--apply", str(manifests)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,  # replicas import tests.
    )  # fmt: skip
    deadline = time.monotonic() + 180
    pattern = r"gateway REST on http://[\d.]+:(\d+) and gRPC on [\d.]+:(\d+)"
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(pattern, log.read_text())
        if found and _answers(int(found.group(1))):
            return proc, int(found.group(1)), int(found.group(2))
        time.sleep(0.25)  # a readiness poll, not a guess
    stop(proc)
    raise RuntimeError(f"the control plane did not serve both models:\n{log.read_text()}")


def _answers(port: int) -> bool:
    try:
        iris = httpx.post(f"http://127.0.0.1:{port}{soak_load.IRIS_V1}", timeout=5,
                          json={"instances": [[5.1, 3.5, 1.4, 0.2]]})  # fmt: skip
        echo = httpx.post(f"http://127.0.0.1:{port}{soak_load.ECHO_PATH}", timeout=5,
                          content=soak_load.echo_body("ready", 1))  # fmt: skip
    except httpx.HTTPError:
        return False
    return iris.status_code == 200 and echo.status_code == 200


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # SIGTERM: the control plane stops its replicas (SIGKILL would leave them)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- the verdict --------------------------------------------------------------------------


def slope(points: list[tuple[float, float]]) -> float | None:
    """Theil-Sen slope of (seconds, MiB) in MiB per minute (the median of the slopes between
    every two readings), None under 3 readings. A >1 MiB iris body becomes ~15 MiB of Python
    objects at the replica, so single readings jump up by that much, and down when the
    allocator hands memory back; least squares follows those jumps, the median does not."""
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    first, second = np.triu_indices(len(t), 1)
    apart = t[second] - t[first]
    keep = apart > 0
    return float(np.median((y[second] - y[first])[keep] / apart[keep]) * 60)


def judge(
    samples: list[dict[str, Any]], restarts: Counter[str], args: argparse.Namespace,
    main_start: float,
) -> dict[str, Any]:  # fmt: skip
    """Each process's figures and what fails the run, from the samples alone."""
    base = next(s for s in samples if s["phase"] == "baseline")["procs"]
    end = next(s for s in samples if s["phase"] == "end")["procs"]
    half = main_start + args.duration / 2
    half_minutes = args.duration / 2 / 60
    rows, failures = {}, []
    for label in base:
        load = [s for s in samples if s["phase"] == "load" and label in s["procs"]]
        second = [(s["t"], s["procs"][label][0]) for s in load if s["t"] >= half]
        per_min = slope(second)
        grown = None if per_min is None else per_min * half_minutes
        rss0, fd0 = base[label]
        rss1, fd1 = end.get(label, (float("nan"), 0))
        fd_max = max([fd0, fd1, *(s["procs"][label][1] for s in load)])
        rows[label] = {
            "rss_start_mib": round(rss0, 1), "rss_end_mib": round(rss1, 1),
            "rss_growth_mib": round(rss1 - rss0, 1),
            "second_half_slope_mib_per_min": None if per_min is None else round(per_min, 2),
            "second_half_growth_mib": None if grown is None else round(grown, 1),
            "fds_start": fd0, "fds_end": fd1, "fds_max": fd_max,
            "restarts": restarts[label],
        }  # fmt: skip
        if label not in end:
            failures.append(f"{label}: gone at the end")
        if grown is not None and grown > args.max_growth_mib:
            failures.append(f"{label}: RSS grew {grown:.1f} MiB in the second half")
        if per_min is not None and half_minutes >= 4 and per_min > args.max_slope:
            failures.append(f"{label}: RSS slope {per_min:.2f} MiB/min in the second half")
        if fd1 - fd0 > args.max_fd_growth:
            failures.append(f"{label}: fds grew from {fd0} to {fd1}")
        if restarts[label]:
            failures.append(f"{label}: restarted {restarts[label]} time(s)")
    return {"processes": rows, "failures": failures}


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    table = Table(title=f"soak: {args.duration:g} s of mixed load after {args.warmup:g} s warm-up")
    for column in ("process", "RSS start", "RSS end", "growth", "2nd-half slope*",
                   "2nd-half growth*", "fds start/end/max", "restarts"):  # fmt: skip
        table.add_column(column, justify="left" if column == "process" else "right")
    for label, row in result["processes"].items():
        per_min, grown = row["second_half_slope_mib_per_min"], row["second_half_growth_mib"]
        table.add_row(
            label, f"{row['rss_start_mib']:.1f} MiB", f"{row['rss_end_mib']:.1f} MiB",
            f"{row['rss_growth_mib']:+.1f} MiB",
            "n/a" if per_min is None else f"{per_min:+.2f} MiB/min",
            "n/a" if grown is None else f"{grown:+.1f} MiB",
            f"{row['fds_start']}/{row['fds_end']}/{row['fds_max']}", str(row["restarts"]),
        )  # fmt: skip
    console.print(table)
    kinds = Table(title="requests by kind (measured run)")
    for column in ("kind", "requests", "errors"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    errors_by_op = Counter[str]()
    for kind, count in result["errors"].items():
        errors_by_op[kind.split(":")[0]] += count
    for op, count in sorted(result["requests"].items(), key=lambda kv: -kv[1]):
        kinds.add_row(op, f"{count:,}", str(errors_by_op[op]))
    console.print(kinds)
    total, seconds = sum(result["requests"].values()), result["measured_seconds"]
    console.print(f"{total:,} requests in {seconds:.0f} s ({total / seconds:,.0f}/s), "
                  f"{sum(result['errors'].values())} errors "
                  f"(warm-up: {sum(result['warmup_requests'].values()):,} requests, "
                  f"{sum(result['warmup_errors'].values())} errors)")  # fmt: skip
    for kind, count in {**result["warmup_errors"], **result["errors"]}.items():
        console.print(f"  error {kind} x{count}: {result['error_examples'].get(kind, [''])[0]}")
    console.print(
        f"* Theil-Sen slope of RSS over the second half (the median of the slopes between every "
        f"two readings), and that slope times the half's length\n"
        f"thresholds: no error of any kind, no restart; per process 2nd-half growth <= "
        f"{args.max_growth_mib:g} MiB, 2nd-half slope <= {args.max_slope:g} MiB/min when that "
        f"half is >= 4 min; fds end - start <= {args.max_fd_growth} (both read idle, clients gone)"
    )
    verdict = "PASS" if not result["failures"] else "FAIL: " + "; ".join(result["failures"])
    console.print(f"[bold]{verdict}[/bold]")


def progress(
    procs: Processes, tally: soak_load.Tally, t0: float, phase: str, last: list[Any]
) -> None:
    """Sample; every PROGRESS_EVERY s also print a line. `last`: [time, requests] of the
    previous line."""
    now, total = time.monotonic(), sum(tally.done.values())
    entry = procs.sample(now - t0, phase, requests=total, errors=sum(tally.errors.values()))
    if now - last[0] < PROGRESS_EVERY:
        return
    rate = (total - last[1]) / (now - last[0])
    last[:] = [now, total]
    parts = "  ".join(f"{k} {v[0]:.1f} MiB/{v[1]} fd" for k, v in entry["procs"].items())
    console.print(f"[{now - t0:6.0f} s] {phase:8} {rate:7,.0f} req/s  "
                  f"errors {entry['errors']}  {parts}")  # fmt: skip


async def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from tests.support.models import train_sklearn  # the same iris model the tests train

    model_dir = train_sklearn(work / "model")
    iris = soak_load.Iris(model_dir / "model.joblib")
    console.print("starting modelplane up with sklearn-iris and echo ...")
    proc, http_port, grpc_port = start(work, model_dir)
    url, target = f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
    procs = Processes(proc.pid)
    t0 = time.monotonic()
    try:
        procs.sample(0, "ready")
        warm = soak_load.Tally()
        last: list[Any] = [t0, 0]
        await soak_load.drive(url, target, iris, warm, args.clients, args.warmup,
                    lambda: progress(procs, warm, t0, "warm-up", last), args.interval)  # fmt: skip
        await procs.settled()
        procs.sample(time.monotonic() - t0, "baseline", sockets=procs.sockets())
        tally, main_start = soak_load.Tally(), time.monotonic() - t0
        last[:] = [time.monotonic(), 0]
        await soak_load.drive(url, target, iris, tally, args.clients, args.duration,
                    lambda: progress(procs, tally, t0, "load", last), args.interval)  # fmt: skip
        measured = time.monotonic() - t0 - main_start
        await procs.settled()
        procs.sample(time.monotonic() - t0, "end", sockets=procs.sockets())
    finally:
        stop(proc)
    result = judge(procs.samples, procs.restarts, args, main_start)
    if proc.returncode not in (0, -15):
        result["failures"].append(f"modelplane up exited with {proc.returncode}")
    for kind, count in {**warm.errors, **tally.errors}.items():
        result["failures"].append(f"{count} x {kind}")
    return {
        "args": vars(args), "main_start": round(main_start, 1),
        "measured_seconds": round(measured, 1),
        "requests": dict(tally.done), "errors": dict(tally.errors),
        "warmup_requests": dict(warm.done), "warmup_errors": dict(warm.errors),
        "error_examples": {**warm.examples, **tally.examples},
        **result, "samples": procs.samples,
    }  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=120, help="seconds of load before it")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--interval", type=float, default=2, help="seconds between samples")
    parser.add_argument("--max-growth-mib", type=float, default=20.0)
    parser.add_argument("--max-slope", type=float, default=1.0, help="MiB/min")
    parser.add_argument("--max-fd-growth", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="mp-soak-") as tmp:
        result = asyncio.run(soak(args, Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    report(result, args)
    console.print(f"written to {args.out}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
