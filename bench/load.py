"""Drive a server with a load generator pinned to its own core, and read what it measured.

REST: `wrk` (one thread, N keep-alive connections) with `lua/post.lua`, which posts a body from
a file, counts answers that are not 2xx and prints its summary as one JSON line (latency
percentiles in microseconds, straight from wrk's histogram).

gRPC: `h2load` posting a ready-made gRPC frame (`content-type: application/grpc`,
`te: trailers`) on C connections with M concurrent streams each; its `--log-file` gives the
per-request latencies the percentiles come from. h2load cannot read gRPC's status trailer, so
a failed call would still count as HTTP 200: the bench checks the DATA bytes instead, since a
successful call carries exactly one response frame of known size and a failed call none.

Each run also reports the CPU time the load generator itself used: a generator near 100% of its
core would be the bottleneck, and the row is flagged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.payloads import Body

LUA = Path(__file__).resolve().parent / "lua" / "post.lua"


@dataclass
class Load:
    """What one load run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float | None
    mean_ms: float
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count, only the nonzero ones
    gen_cpu: float = 0.0  # share of one core the load generator used
    srv_cpu: float = 0.0  # share of one core the server used (filled in by the caller)
    # Share of the server's / the generator's core that other processes on the machine took
    # during the run (the core's busy share minus what the server / generator used).
    foreign_srv: float = 0.0
    foreign_gen: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def noisy(self) -> bool:
        return noisy(self.as_dict())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps}


NOISY_SERVER_CORE = 0.1  # others took more than this share of the server's core
BUSY_LOAD_CORE = 0.9  # the generator's core was busier than this, the generator included


def noisy(round_: dict[str, Any]) -> bool:
    """Did other processes on the machine skew this round? When they took a real share of the
    server's core, or left the load generator too little of its own."""
    return bool(
        round_.get("foreign_srv", 0) > NOISY_SERVER_CORE
        or round_.get("foreign_gen", 0) + round_.get("gen_cpu", 0) > BUSY_LOAD_CORE
    )


def _pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


def _run(argv: list[str]) -> tuple[str, float, float]:
    """Run `argv`; its stdout, its wall seconds and the CPU seconds it used."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        start = os.times().elapsed
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = os.times().elapsed - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}:\n{text[-2000:]}")
    return text, wall, usage.ru_utime + usage.ru_stime


def wrk(
    port: int,
    path: str,
    body: Body,
    connections: int,
    seconds: int,
    core: int | None,
    raw_log: Path | None = None,
) -> Load:
    argv = [*_pin(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s"]
    argv += ["--latency", "-s", str(LUA), f"http://127.0.0.1:{port}{path}", "--"]
    argv += [str(body.path), body.content_type, *body.headers]
    text, wall, cpu = _run(argv)
    if raw_log is not None:
        with raw_log.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n{text}\n")
    match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{text[-2000:]}")
    s = json.loads(match.group(1))
    errors = {kind: int(s[kind]) for kind in ("connect", "read", "write", "timeout") if s[kind]}
    if s["non2xx"]:
        errors[f"http {s['first_bad_status']}"] = int(s["non2xx"])
    return Load(
        requests=int(s["requests"]),
        seconds=s["duration_us"] / 1e6,
        p50_ms=s["p50_us"] / 1000,
        p90_ms=s["p90_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
        p999_ms=s["p999_us"] / 1000,
        mean_ms=s["mean_us"] / 1000,
        errors=errors,
        gen_cpu=cpu / wall if wall else 0.0,
    )


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return float(sorted_values[index])


def h2load(
    port: int,
    path: str,
    body: Body,
    connections: int,
    streams: int,
    seconds: int,
    core: int | None,
    response_frame_bytes: int,
    raw_log: Path | None = None,
) -> Load:
    """`response_frame_bytes`: the size of one correct answer's gRPC frame (prefix included),
    as the preflight call saw it."""
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log_file:
        argv = [*_pin(core), "h2load", "-t1", f"-c{connections}", f"-m{streams}"]
        argv += [f"-D{seconds}", "-d", str(body.path), "--log-file", log_file.name]
        argv += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        argv += [f"http://127.0.0.1:{port}{path}"]
        text, wall, cpu = _run(argv)
        latencies = []
        for line in Path(log_file.name).read_text().splitlines():
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1] == "200":
                latencies.append(int(cols[2]))
    if raw_log is not None:
        with raw_log.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n{text}\n")
    finished = re.search(r"finished in ([\d.]+)(m?s)", text)
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        text,
    )
    data = re.search(r"traffic: .*\((\d+)\) data", text)
    if finished is None or counts is None or data is None:
        raise RuntimeError(f"could not read h2load's summary:\n{text[-2000:]}")
    elapsed = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    succeeded = int(counts.group(4))
    errors = {}
    for kind, value in (("failed", counts.group(5)), ("errored", counts.group(6))):
        if int(value):
            errors[kind] = int(value)
    # Each successful call carries one response frame; a failed gRPC call (trailers only) none.
    frames = int(data.group(1)) / response_frame_bytes if response_frame_bytes else succeeded
    missing = succeeded - int(frames + 0.5)
    if missing > 0:
        errors["grpc status"] = missing
    latencies.sort()
    return Load(
        requests=succeeded,
        seconds=elapsed,
        p50_ms=_percentile(latencies, 50) / 1000,
        p90_ms=_percentile(latencies, 90) / 1000,
        p99_ms=_percentile(latencies, 99) / 1000,
        p999_ms=_percentile(latencies, 99.9) / 1000,
        mean_ms=(sum(latencies) / len(latencies) / 1000) if latencies else 0.0,
        errors=errors,
        gen_cpu=cpu / wall if wall else 0.0,
    )


def grpc_call(port: int, body: Body, timeout: float = 60.0) -> bytes:
    """One ModelInfer call with the same message h2load sends; the serialized response."""
    import grpc

    message = body.path.read_bytes()[5:]
    with grpc.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    ) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        response: bytes = call(message, timeout=timeout)
    return response
