"""Where does modelplane spend a request? py-spy samples the server while wrk drives it.

    .venv/bin/python bench/profiling.py [--scenario v2-2r-c64] [--seconds 10] [--serve-args=...]
    .venv/bin/python bench/profiling.py --gateway --scenario v1-2r-c64   # `up`'s gateway

The server is pinned to core 0 and wrk to core 1, as in the bench. py-spy (in
bench/.venvs/profiler, made on first use) records every non-idle thread of the server; the
summary groups each sample by the innermost frame that belongs to a known layer (socket and
HTTP parsing, routing, decode, data plane, the model, encode, logging, metrics, ...) and also
lists the functions with the most samples of their own. The raw collapsed stacks are kept for
flame graphs (https://www.speedscope.app reads them).

By default only the thread holding the GIL is sampled (`py-spy --gil`): on one core, Python
work is what competes for the core, and py-spy's idle detection counts threads that wait for
the GIL or a queue as busy, which buries the profile under thread-pool waits.
"""

from __future__ import annotations

import argparse
import collections
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import env, load, payloads, servers
from bench.payloads import Bodies
from bench.scenarios import SCENARIOS

# (layer, substrings of a frame "function (file:line)"), the first match from the leaf wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("model: sklearn predict", ("sklearn/", "scipy/", "threadpoolctl")),
    ("logging", ("logging/", "modelplane/observability/logs")),
    ("metrics", ("prometheus_client/", "modelplane/observability/metrics")),
    ("batching", ("modelplane/server/batch",)),
    ("V1/V2 decode+encode", ("modelplane/protocol/",)),
    ("tensors (core)", ("modelplane/core/",)),
    ("runtime (rows, tabular)", ("modelplane/runtimes/",)),
    ("data plane", ("modelplane/server/dataplane", "modelplane/server/repository")),
    ("REST handlers", ("modelplane/server/rest",)),
    ("gateway: routing, balancing", ("gateway/routes", "gateway/balancer", "gateway/load")),
    ("gateway: HTTP proxy", ("gateway/http_proxy",)),
    ("gateway: upstream client", ("gateway/upstream",)),
    ("gateway: access log", ("gateway/logger",)),
    ("gRPC", ("grpc/", "modelplane/server/grpc_service")),
    ("numpy", ("numpy/",)),
    ("json (orjson/json)", ("orjson", "json/")),
    ("starlette routing/responses", ("starlette/",)),
    ("uvicorn HTTP protocol", ("uvicorn/",)),
    ("thread pool hop", ("concurrent/futures", "threading.py")),
    ("asyncio/uvloop event loop", ("asyncio/", "uvloop")),
]


def classify(stack: list[str]) -> str:
    for frame in reversed(stack):
        for layer, needles in LAYERS:
            if any(n in frame for n in needles):
                return layer
    return "other"


def summarize(collapsed: Path, top: int = 25) -> str:
    layers: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        threads["model threads" if "concurrent/futures" in stack_text else "event loop"] += count
        layers[classify(stack)] += count
        leaves[stack[-1]] += count
        for layer, needles in LAYERS:
            if any(n in frame for frame in stack for n in needles):
                inclusive[layer] += count
    if not total:
        return "no samples"
    out = [f"{total} samples (non-idle)", "", "by layer (innermost known frame):"]
    for layer, count in layers.most_common():
        out.append(f"  {count / total:6.1%}  {layer}")
    out += ["", "inclusive (samples with any frame of the layer on the stack):"]
    for layer, count in inclusive.most_common():
        out.append(f"  {count / total:6.1%}  {layer}")
    out += ["", "by thread:"]
    for thread, count in threads.most_common():
        out.append(f"  {count / total:6.1%}  {thread}")
    out += ["", f"top {top} functions by own samples:"]
    for leaf, count in leaves.most_common(top):
        out.append(f"  {count / total:6.1%}  {leaf}")
    return "\n".join(out)


def _record(args: argparse.Namespace, py_spy: Path, pid: int, collapsed: Path) -> Any:
    """py-spy recording `pid` for --seconds, started; the caller drives the load meanwhile."""
    spy = subprocess.Popen(
        [str(py_spy), "record", "--pid", str(pid), "--rate", str(args.rate)]
        + ["--duration", str(int(args.seconds)), "--format", "raw", "--threads"]
        + ["--output", str(collapsed)]
        + ([] if args.all_threads else ["--gil"])
        + (["--nonblocking"] if args.nonblocking else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # py-spy attaching; the profile covers the load that follows
    return spy


def _finish(spy: Any, args: argparse.Namespace) -> None:
    _, err = spy.communicate(timeout=args.seconds + 60)
    if spy.returncode != 0:
        raise SystemExit(f"py-spy failed: {err}")


def _profile_serve(
    args: argparse.Namespace, py_spy: Path, paths: env.Paths, bodies: Bodies, sc: Any
) -> tuple[load.Load, Path]:
    body = bodies.get(sc.body, sc.rows)
    config = "tensor" if sc.body.startswith("tensor") else "iris"
    launch = servers.modelplane(config, paths, shlex.split(args.serve_args))
    with servers.Server(launch, args.out / "server.log", 0) as server:
        probe = bodies.get("v2", 2) if config == "iris" else bodies.get("tensor-bin")
        path = "/v2/models/sklearn-iris/infer" if config == "iris" else sc.path
        server.first_answer(path, probe, lambda status, _: None if status == 200 else "not yet")
        if sc.grpc:  # one right answer's frame size: what h2load's byte count is checked against
            assert launch.grpc_port is not None
            frame = 5 + len(load.grpc_call(launch.grpc_port, body))

        def drive(seconds: int) -> load.Load:
            if not sc.grpc:
                return load.wrk(launch.http_port, sc.path, body, sc.connections, seconds, 1)
            assert launch.grpc_port is not None
            return load.h2load(
                launch.grpc_port, sc.path, body, sc.connections, sc.streams, seconds, 1, frame
            )

        drive(2)  # warm up
        collapsed = args.out / f"{sc.key}.collapsed"
        spy = _record(args, py_spy, server.proc.pid, collapsed)
        result = drive(args.seconds)
        _finish(spy, args)
    return result, collapsed


def _profile_gateway(
    args: argparse.Namespace, py_spy: Path, paths: env.Paths, sc: Any
) -> tuple[load.Load, Path]:
    """`modelplane up` (the gateway's process, not its replica) while wrk drives the gateway."""
    from bench import gateway

    with tempfile.TemporaryDirectory(prefix="mp-profile-gw-") as tmp:
        work = Path(tmp)
        body = Bodies(work / "bodies", paths.iris_file).get("v1", rows=2)
        routed = payloads.Body(body.path, body.content_type, [gateway.HOST])
        proc, port, _ = gateway.start(work, paths.iris_dir)
        try:
            load.wrk(port, gateway.PATH, routed, sc.connections, 2, 1)  # warm up
            collapsed = args.out / f"gateway-{sc.key}.collapsed"
            spy = _record(args, py_spy, proc.pid, collapsed)
            result = load.wrk(port, gateway.PATH, routed, sc.connections, args.seconds, 1)
            _finish(spy, args)
        finally:
            proc.terminate()
            proc.wait(60)
    return result, collapsed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="v2-2r-c64")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--serve-args", default="", help="extra `modelplane serve` options")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread py-spy thinks is busy, not only the one holding the GIL",
    )
    parser.add_argument(
        "--nonblocking", action="store_true", help="sample without pausing the server"
    )
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="profile `modelplane up`'s gateway (V1, 2 rows) instead of a replica",
    )
    parser.add_argument("--out", type=Path, default=env.BENCH / "results" / "profile")
    return parser.parse_args(argv)


def profile(args: argparse.Namespace, say: Any = print) -> str:
    """Profile one scenario as `args` say; the summary, headed by what the load measured."""
    sc = next(s for s in SCENARIOS if s.key == args.scenario)
    py_spy = env.ensure_venv("profiler", say).parent / "py-spy"
    paths = env.paths()
    env.train_iris(paths, say)
    bodies = Bodies(paths.bodies, paths.iris_file)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.gateway:
        result, collapsed = _profile_gateway(args, py_spy, paths, sc)
    else:
        result, collapsed = _profile_serve(args, py_spy, paths, bodies, sc)
    head = (
        f"{'gateway, ' if args.gateway else ''}{sc.key}"
        f"{' ' + args.serve_args if args.serve_args else ''}: {result.rps:,.0f} req/s, "
        f"p99 {result.p99_ms:.2f} ms while profiled (py-spy at {args.rate} Hz slows the "
        "server a little)"
    )
    summary = f"{head}\n{summarize(collapsed)}\n\ncollapsed stacks: {collapsed}"
    (args.out / f"{collapsed.stem}.summary.txt").write_text(summary + "\n")
    return summary


def main() -> None:
    print(profile(parse_args()))


if __name__ == "__main__":
    main()
