"""Run the benchmark: every server, one at a time, on one pinned core; the load generator on
another; one table at the end. `make bench` runs this; `--quick` is a smoke run.

    .venv/bin/python bench/run.py [--quick] [--duration 5] [--rounds 3] [--only KEY,...]

Results go to bench/results/<time>/ (results.json, each server's log, the load generators'
raw output) and bench/results/latest.json; `python -m bench.report` prints a saved run again.
Last, for the goals missed, it profiles the rows behind them (bench/profiling.py, ~10 s each,
into <time>/profiles/) and prints each profile; `--no-profiles` skips that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import checks, env, load, procs, profiling, report, servers, tokens
from bench.payloads import IRIS_MODEL, TENSOR_MODEL, Bodies, Body
from bench.scenarios import LAUNCH_ORDER, PEERS, SCENARIOS, Scenario

SERVER_CORE, LOAD_CORE = 0, 1
BATCH_FLAGS = ["--max-batch-size", "--max-latency-ms"]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per round [5]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure; median [3]")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured seconds before each figure [1]"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 2 s, the 64-connection rows"
    )
    parser.add_argument(
        "--only",
        default="",
        help="scenario keys or globs, comma-separated (gen-c1, gen-c8: the generation rows)",
    )
    parser.add_argument(
        "--peers", default="modelplane,kserve,mlserver,bare", help="which servers to run"
    )
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start rounds")
    parser.add_argument(
        "--no-profiles",
        action="store_true",
        help="skip the profiles taken at the end for the goals missed",
    )
    parser.add_argument(
        "--modelplane-args", default="", help="extra `modelplane serve` options for every row"
    )
    parser.add_argument(
        "--batch-args",
        default="--max-batch-size 64 --max-latency-ms 2",
        help="`modelplane serve` options of the batching rows",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each round, wait up to this many seconds for both cores to be idle [0]",
    )
    parser.add_argument("--out", type=Path, default=env.BENCH / "results")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration and --rounds are at least 1, --warmup at least 0 (whole seconds)")
    if args.quick:
        args.duration, args.rounds, args.warmup = 2, 1, 1
    return args


def generation_keys(args: argparse.Namespace) -> list[str]:
    """The generation rows (bench/tokens.py) to run: modelplane only, part of --quick."""
    return _modelplane_keys(args, list(tokens.KEYS))


CONTROL_PLANE = {
    "gateway": "V1 2 rows through `modelplane up`'s gateway and on its replica's own port",
    "scale-from-zero": "the first answer through the gateway after scale-to-zero",
}


def control_plane_keys(args: argparse.Namespace) -> list[str]:
    """The `modelplane up` rows to run: modelplane only, part of --quick."""
    return _modelplane_keys(args, list(CONTROL_PLANE))


def _modelplane_keys(args: argparse.Namespace, keys: list[str]) -> list[str]:
    """Those of modelplane's own `keys` that --peers and --only select."""
    if "modelplane" not in args.peers.split(","):
        return []
    patterns = [p for p in args.only.split(",") if p]
    return [k for k in keys if not patterns or any(fnmatch.fnmatch(k, p) for p in patterns)]


# Which profile explains a goal missed: (part of the goal's name, scenario, how the server
# runs: "" plain, "batch" with --batch-args, "gateway" through `modelplane up`); first match.
PROFILE_FOR = [
    ("p99 vs KServe", "", ""),  # the tail is uvloop's: a profile of the median says nothing
    ("1 conn", "v1-2r-c1", "batch"),
    ("batching gRPC", "grpc-2r-c8x8", "batch"),
    ("access log", "v1-2r-c64", "batch"),
    ("batching", "v1-2r-c64", "batch"),
    ("gateway", "v1-2r-c64", "gateway"),
    ("gRPC", "grpc-2r-c8x8", ""),
    ("V1 c64", "v1-2r-c64", ""),
    ("V2 c64", "v2-2r-c64", ""),
]
IMPORTS = {
    "python itself": "pass",
    "modelplane's server (modelplane.server.runner)": "import modelplane.server.runner",
    "scikit-learn (sklearn.linear_model, joblib)": "import sklearn.linear_model, joblib",
}


def import_times(runs: int) -> str:
    """Seconds each import takes in a fresh interpreter on the server's core."""
    lines = []
    for what, code in IMPORTS.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                ["taskset", "-c", str(SERVER_CORE), sys.executable, "-c", code], check=True
            )
            times.append(time.perf_counter() - started)
        lines.append(f"  {statistics.median(times):6.2f} s  {what}")
    return "\n".join(lines)


def selected(args: argparse.Namespace) -> list[Scenario]:
    patterns = [p for p in args.only.split(",") if p]
    peers = set(args.peers.split(","))
    chosen = []
    for sc in SCENARIOS:
        if args.quick and not sc.quick and not patterns:
            continue
        if patterns and not any(fnmatch.fnmatch(sc.key, p) for p in patterns):
            continue
        runs_on = tuple(name for name in sc.runs_on if name.split("/")[0] in peers)
        if runs_on:
            chosen.append(Scenario(**{**sc.__dict__, "runs_on": runs_on}))
    return chosen


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.paths = env.paths()
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = args.out / stamp
        self.out.mkdir(parents=True, exist_ok=True)
        self.raw_log = self.out / "loadgen.log"
        self.bodies = Bodies(self.paths.bodies, self.paths.iris_file)
        self.results: dict[str, Any] = {
            "started": stamp,
            "settings": {
                "duration_s": args.duration,
                "rounds": args.rounds,
                "warmup_s": args.warmup,
                "quick": args.quick,
                "server_core": SERVER_CORE,
                "load_core": LOAD_CORE,
                "modelplane_args": args.modelplane_args,
                "batch_args": args.batch_args,
                "wait_quiet_s": args.wait_quiet,
            },
            "machine": machine(),
            "runs": {},  # "scenario@peer/config" -> {"rounds": [...], "median": {...}}
            "starts": {},  # peer -> {"cold_start_s": [...], "first_start_s": ..., memory}
            "generation": {},  # "gen-cN" -> {"rounds": [...], "median": {...}} (bench/tokens.py)
            "skipped": [],  # (what, why)
        }

    # -- launches ---------------------------------------------------------------------------

    def launch(self, name: str) -> servers.Launch:
        peer, config = name.split("/")
        if peer == "modelplane":
            extra = shlex.split(self.args.modelplane_args)
            if config.startswith("batch"):
                extra += shlex.split(self.args.batch_args)
            if config.endswith("-nolog"):
                extra.append("--no-access-log")
            return servers.modelplane(config, self.paths, extra, SERVER_CORE)
        if peer == "kserve":
            return servers.kserve(config, self.paths)
        if peer == "mlserver":
            return servers.mlserver(config, self.paths)
        return servers.bare(config, self.paths)

    def skip(self, what: str, why: str) -> None:
        log(f"SKIP {what}: {why}")
        self.results["skipped"].append([what, why])

    # -- measuring ---------------------------------------------------------------------------

    def preflight(self, sc: Scenario, launch: servers.Launch) -> int:
        """Send the scenario's body once and check the answer; for gRPC, the size of one
        correct response frame (what h2load's byte count is checked against)."""
        body = self.bodies.get(sc.body, sc.rows)
        if sc.grpc:
            assert launch.grpc_port is not None
            response = load.grpc_call(launch.grpc_port, body)
            problem = checks.grpc(response, body.expect)
            if problem:
                raise servers.ServerFailed(f"{sc.key} on {launch.name}: wrong answer: {problem}")
            return 5 + len(response)
        answer = servers.post(launch.http_port, sc.path, body)
        if answer is None:
            raise servers.ServerFailed(f"{sc.key} on {launch.name}: connection refused")
        status, data = answer
        kind = "v1" if sc.body == "v1" else "v2"
        problem = (
            None
            if launch.config == "echo" and status == 200
            else checks.rest(kind, status, data, body.expect)
        )
        if problem:
            raise servers.ServerFailed(f"{sc.key} on {launch.name}: wrong answer: {problem}")
        return 0

    def drive(
        self, sc: Scenario, launch: servers.Launch, seconds: int, frame_bytes: int
    ) -> load.Load:
        body = self.bodies.get(sc.body, sc.rows)
        if sc.grpc:
            assert launch.grpc_port is not None
            return load.h2load(
                launch.grpc_port,
                sc.path,
                body,
                sc.connections,
                sc.streams,
                seconds,
                LOAD_CORE,
                frame_bytes,
                self.raw_log,
            )
        return load.wrk(
            launch.http_port, sc.path, body, sc.connections, seconds, LOAD_CORE, self.raw_log
        )

    def measure(self, sc: Scenario, server: servers.Server, label: str) -> None:
        launch = server.launch
        frame_bytes = self.preflight(sc, launch)
        if self.args.warmup > 0:
            self.drive(sc, launch, self.args.warmup, frame_bytes)
        rounds = []
        for i in range(self.args.rounds):
            self.wait_quiet(server)
            cores0 = procs.core_clock(SERVER_CORE), procs.core_clock(LOAD_CORE)
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            result = self.drive(sc, launch, self.args.duration, frame_bytes)
            result.srv_cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
            cores1 = procs.core_clock(SERVER_CORE), procs.core_clock(LOAD_CORE)
            result.foreign_srv = max(0.0, procs.busy_between(cores0[0], cores1[0]) - result.srv_cpu)
            result.foreign_gen = max(0.0, procs.busy_between(cores0[1], cores1[1]) - result.gen_cpu)
            rounds.append(result)
            flag = f"  ERRORS {result.errors}" if result.errors else ""
            if result.noisy:
                flag += (
                    f"  NOISY: other processes took {result.foreign_srv:.0%} of the server's "
                    f"core, {result.foreign_gen:.0%} of the generator's"
                )
            log(
                f"  {label} round {i + 1}/{self.args.rounds}: {result.rps:,.0f} req/s, "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                f"server cpu {result.srv_cpu:.0%}, loadgen cpu {result.gen_cpu:.0%}{flag}"
            )
        self.results["runs"][f"{sc.key}@{launch.name}"] = {
            "rounds": [r.as_dict() for r in rounds],
            "median": summarize(rounds),
        }
        self.save()

    def wait_quiet(self, server: servers.Server) -> None:
        """With --wait-quiet S: wait up to S seconds until other processes leave the server's
        core idle and the generator's mostly free (they skew every figure). The server's own
        CPU (finishing requests the last round left in flight) does not count."""
        deadline = time.monotonic() + self.args.wait_quiet
        waited = False
        while time.monotonic() < deadline:
            cpu0 = server.cpu_seconds()
            server_core = procs.core_busy(SERVER_CORE, 1.0)
            server_core = max(0.0, server_core - (server.cpu_seconds() - cpu0) / 1.0)
            load_core = procs.core_busy(LOAD_CORE, 0.2)
            if server_core < load.NOISY_SERVER_CORE and load_core < 0.5:
                break
            if not waited:
                log(
                    f"  waiting for the machine to be quiet (others use {server_core:.0%} of "
                    f"core {SERVER_CORE}, {load_core:.0%} of core {LOAD_CORE})"
                )
                waited = True

    def session(self, name: str, scenarios: list[Scenario], counter: list[int]) -> None:
        launch = self.launch(name)
        busy = procs.core_busy(SERVER_CORE) + procs.core_busy(LOAD_CORE)
        self.results.setdefault("background_busy", {})[name] = round(busy, 3)
        if busy > load.NOISY_SERVER_CORE:
            log(
                f"WARNING: before starting {name}, other processes kept cores "
                f"{SERVER_CORE}+{LOAD_CORE} {busy:.0%} busy; figures will be noisy"
            )
        log(f"starting {name}: {' '.join(launch.argv)}")
        probe = self.bodies.get("v2", 2)
        server = servers.Server(
            launch, self.out / "logs" / f"{name.replace('/', '-')}.log", SERVER_CORE
        )
        with server:
            if launch.config in ("tensor", "onnx"):
                seconds = server.first_answer(
                    f"/v2/models/{TENSOR_MODEL}/infer", self.bodies.get("tensor-bin"), _ok_status
                )
            else:
                seconds = server.first_answer(
                    f"/v2/models/{IRIS_MODEL}/infer", probe, _rest_check("v2", probe.expect)
                )
            log(f"{name} answered {seconds:.2f} s after start")
            for sc in scenarios:
                counter[0] += 1
                label = f"[{counter[0]}/{counter[1]}] {sc.key} on {name}"
                log(f"{label}: {sc.title}, {sc.concurrency} concurrent")
                try:
                    self.measure(sc, server, label)
                except (servers.ServerFailed, RuntimeError) as exc:
                    self.skip(f"{sc.key} on {name}", str(exc))
                    if server.proc.poll() is not None:
                        raise
        if launch.config == "iris":
            memory = {
                "peak_rss_mib": round(server.memory.peak_rss, 1),
                "hwm_sum_mib": round(server.memory.hwm_sum, 1),
                "first_start_s": round(seconds, 3),
            }
            self.results["starts"].setdefault(launch.peer, {}).update(memory)
            log(
                f"{name}: peak RSS {memory['peak_rss_mib']:.0f} MiB sampled, "
                f"{memory['hwm_sum_mib']:.0f} MiB by VmHWM"
            )

    def generation(self, keys: list[str], counter: list[int]) -> None:
        """The token-throughput rows: modelplane serving the tiny GPT-2 on each backend, driven
        by bench/tokens.py from this process (pinned to the load core)."""
        for backend, config in (("transformers", "gpt2"), ("vllm", "gpt2-vllm")):
            mine = [key for key in keys if tokens.backend_of(key) == backend]
            if not mine:
                continue
            if backend == "vllm" and not servers.VLLM_MODELPLANE.exists():
                self.skip(f"modelplane/{config}", "no .venv-vllm: run `make vllm`")
                continue
            try:
                self.generation_on(f"modelplane/{config}", mine, counter)
            except servers.ServerFailed as exc:
                self.skip(f"modelplane/{config}", str(exc))

    def generation_on(self, name: str, keys: list[str], counter: list[int]) -> None:
        launch = self.launch(name)
        log(f"starting {name}: {' '.join(launch.argv)}")
        model = servers.GPT2_MODEL
        plain = self.paths.bodies / "gen-plain"
        plain.write_text(json.dumps(tokens.request(model, stream=False)))
        body = Body(plain, "application/json")
        log_file = self.out / "logs" / f"{name.replace('/', '-')}.log"
        server = servers.Server(launch, log_file, SERVER_CORE)
        with server:
            seconds = server.first_answer(tokens.PATH, body, tokens.check_plain)
            log(f"{name} answered {seconds:.2f} s after start")
            answer = servers.post(launch.http_port, tokens.PATH, body)
            assert answer is not None
            text = json.loads(answer[1])["choices"][0]["text"]
            problem = tokens.preflight(launch.http_port, model, text)
            if problem:
                raise servers.ServerFailed(f"generation on {name}: wrong answer: {problem}")
            for key in keys:
                conc = tokens.KEYS[key]
                counter[0] += 1
                label = f"[{counter[0]}/{counter[1]}] {key} on {name}"
                log(f"{label}: {tokens.TITLE}, {conc} concurrent streams")
                if self.args.warmup > 0:
                    tokens.run_round(launch.http_port, model, conc, self.args.warmup)
                rounds = []
                for i in range(self.args.rounds):
                    self.wait_quiet(server)
                    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
                    r = tokens.run_round(launch.http_port, model, conc, self.args.duration)
                    r.srv_cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                    rounds.append(r)
                    flag = f"  ERRORS {r.errors}" if r.errors else ""
                    log(
                        f"  {label} round {i + 1}/{self.args.rounds}: {r.tokens_per_s:,.0f} "
                        f"tokens/s ({r.requests} requests), TTFT p50 {r.ttft_p50_ms:.1f} ms, "
                        f"ITL p50 {r.itl_p50_ms:.2f} ms, server cpu {r.srv_cpu:.0%}, "
                        f"driver cpu {r.gen_cpu:.0%}{flag}"
                    )
                self.results["generation"][key] = {
                    "rounds": [r.as_dict() for r in rounds],
                    "median": tokens.summarize(rounds),
                }
                self.save()

    def control_plane(self, keys: list[str], counter: list[int]) -> None:
        """`modelplane up`'s rows: the gateway against its replica's own port (bench/gateway.py)
        and the first answer after scale-to-zero (bench/scale_from_zero.py)."""
        from bench import gateway, scale_from_zero

        for key in keys:
            counter[0] += 1
            log(f"[{counter[0]}/{counter[1]}] {key}: {CONTROL_PLANE[key]}")
            with tempfile.TemporaryDirectory(prefix=f"mp-bench-{key}-") as tmp:
                if key == "gateway":
                    found: dict[str, Any] = gateway.compare(
                        self.paths.iris_dir, Path(tmp), [8, 64], self.args.duration,
                        self.args.rounds,
                    )  # fmt: skip
                    for conns, both in found.items():
                        d, g = both["direct"]["median"], both["gateway"]["median"]
                        log(
                            f"  {conns}: direct {d['rps']:,.0f} req/s, through the gateway "
                            f"{g['rps']:,.0f} ({g['rps'] / d['rps']:.2f}x)"
                        )
                else:
                    found = scale_from_zero.measure(
                        self.paths.iris_dir, Path(tmp), self.args.rounds
                    )
            self.results.setdefault("control_plane", {})[key] = found
            self.save()

    def cold_starts(self, peers: list[str]) -> None:
        """Start each server `rounds` times, round-robin, timing spawn -> first right answer."""
        probe = self.bodies.get("v2", 2)
        check = _rest_check("v2", probe.expect)
        for i in range(self.args.rounds):
            for peer in peers:
                launch = self.launch(f"{peer}/iris")
                name = f"{peer}-cold-{i + 1}"
                with servers.Server(launch, self.out / "logs" / f"{name}.log", SERVER_CORE) as s:
                    seconds = s.first_answer(f"/v2/models/{IRIS_MODEL}/infer", probe, check)
                self.results["starts"].setdefault(peer, {}).setdefault("cold_start_s", []).append(
                    round(seconds, 3)
                )
                log(
                    f"cold start {i + 1}/{self.args.rounds} {peer}: {seconds:.2f} s to first answer"
                )
        self.save()

    def save(self) -> None:
        text = json.dumps(self.results, indent=1)
        (self.out / "results.json").write_text(text)
        (self.args.out / "latest.json").write_text(text)

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        args = self.args
        chosen = selected(args)
        wanted = {name for sc in chosen for name in sc.runs_on}
        peers = {name.split("/")[0] for name in wanted}
        for anchor in ("kserve", "mlserver"):
            if anchor in peers or (anchor in args.peers and not args.no_cold_start):
                env.ensure_venv(anchor, log)
        env.train_iris(self.paths, log)
        if "modelplane/onnx" in wanted:
            env.build_onnx(self.paths, log)
        if "modelplane/batch" in wanted:
            missing = servers.missing_flags(BATCH_FLAGS)
            if missing:
                self.skip(
                    "batching rows",
                    f"`modelplane serve` has no {', '.join(missing)} yet; rows not measured",
                )
                wanted -= {"modelplane/batch", "modelplane/batch-nolog"}
        extra = [a for a in shlex.split(args.modelplane_args) if a.startswith("--")]
        missing = servers.missing_flags(extra)
        if missing:
            raise SystemExit(f"--modelplane-args: `modelplane serve` has no {', '.join(missing)}")
        plan = [
            (name, [sc for sc in chosen if name in sc.runs_on])
            for name in LAUNCH_ORDER
            if name in wanted
        ]
        gen_keys = generation_keys(args)
        if gen_keys:
            env.build_gpt2(self.paths, log)
        plane_keys = control_plane_keys(args)
        total = sum(len(scs) for _, scs in plan) + len(gen_keys) + len(plane_keys)
        log(
            f"{total} measurements, {args.rounds} round(s) of {args.duration:g} s each, "
            f"servers on core {SERVER_CORE}, load generator on core {LOAD_CORE}; "
            f"output in {self.out}"
        )
        counter = [0, total]
        for name, scs in plan:
            try:
                self.session(name, scs, counter)
            except servers.ServerFailed as exc:
                self.skip(name, str(exc))
        if gen_keys:
            self.generation(gen_keys, counter)
        if plane_keys:
            self.control_plane(plane_keys, counter)
        cold_peers = [p for p in PEERS if p in args.peers.split(",")]
        if not args.no_cold_start:
            self.cold_starts(cold_peers)
        self.results["finished"] = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.save()
        report.render(self.results)
        if not args.no_profiles:
            self.profile_misses()

    def profile_misses(self) -> None:
        """For the goals missed: py-spy profiles of the rows behind them (bench/profiling.py),
        and for the cold start, how long its imports take; printed and kept in the run's
        profiles/ folder."""
        missed = [name for name, _, _, met in report.targets(self.results) if met is False]
        wanted: dict[tuple[str, str], list[str]] = {}
        for name in missed:
            for part, scenario, mode in PROFILE_FOR:
                if part in name:
                    if scenario:
                        wanted.setdefault((scenario, mode), []).append(name)
                    break
        out = self.out / "profiles"
        for (scenario, mode), goals in wanted.items():
            log(f"profiling {scenario} {mode} for: {'; '.join(goals)}")
            folder = out / (f"{scenario}-{mode}" if mode else scenario)  # one per profile
            argv = ["--scenario", scenario, "--seconds", "8", "--out", str(folder)]
            if mode == "gateway":
                argv.append("--gateway")
            elif mode == "batch":
                argv += ["--serve-args", self.args.batch_args]
            try:
                summary = profiling.profile(profiling.parse_args(argv), log)
            except (SystemExit, RuntimeError, servers.ServerFailed) as exc:
                log(f"  profile failed: {exc}")
                continue
            print(f"\n=== profile behind: {'; '.join(goals)}\n{summary}", flush=True)
        if any("cold start" in name for name in missed):
            print(
                f"\n=== behind the cold start: imports, {self.args.rounds} runs each on core "
                f"{SERVER_CORE} (median)\n{import_times(self.args.rounds)}",
                flush=True,
            )


def _ok_status(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}"


def _rest_check(kind: str, expect: Any) -> servers.Check:
    def check(status: int, body: bytes) -> str | None:
        return checks.rest(kind, status, body, expect)

    return check


def summarize(rounds: list[load.Load]) -> dict[str, Any]:
    """Medians over rounds of each figure; errors summed."""
    errors: dict[str, int] = {}
    for r in rounds:
        for kind, count in r.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "rps": statistics.median(r.rps for r in rounds),
        "p50_ms": statistics.median(r.p50_ms for r in rounds),
        "p99_ms": statistics.median(r.p99_ms for r in rounds),
        "requests": sum(r.requests for r in rounds),
        "errors": errors,
        "srv_cpu": statistics.median(r.srv_cpu for r in rounds),
        "gen_cpu": max(r.gen_cpu for r in rounds),
        "noisy_rounds": sum(r.noisy for r in rounds),
    }


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    missing = env.missing_tools()
    if missing:
        raise SystemExit(f"install the load generators first: apt-get install {' '.join(missing)}")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("the bench needs two cores: one for the server, one for the load")
    # The bench itself (probes, /proc sampling) stays off the server's core.
    os.sched_setaffinity(0, {LOAD_CORE})
    Bench(args).run()


if __name__ == "__main__":
    main()
