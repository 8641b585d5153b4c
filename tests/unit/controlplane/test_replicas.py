"""The replica manager's pure parts: backoff schedule, which replica a scale-down stops, template
identity, state-file round trip, adoption checks (psutil, this test's own process), log tails. No
process is started."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelplane.controlplane import replicas
from modelplane.controlplane.replicas import local, records


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    delays = [replicas.backoff_delay(n, 1.0, 60.0) for n in range(9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert replicas.backoff_delay(10_000, 0.5, 5.0) == 5.0


@dataclass
class Fake:
    name: str
    ready: bool
    phase: replicas.Phase
    started_at: datetime


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fake(name: str, phase: replicas.Phase, age_s: int) -> Fake:
    return Fake(name, phase is replicas.Phase.READY, phase, T0 - timedelta(seconds=age_s))


def test_scale_down_stops_crashed_then_starting_then_newest_ready() -> None:
    members = [
        fake("old-ready", replicas.Phase.READY, 300),
        fake("new-ready", replicas.Phase.READY, 10),
        fake("starting", replicas.Phase.STARTING, 5),
        fake("crashed", replicas.Phase.BACKOFF, 200),
        fake("mid-ready", replicas.Phase.READY, 100),
    ]
    order = [m.name for m in replicas.choose_to_stop(members, 5)]
    assert order == ["crashed", "starting", "new-ready", "mid-ready", "old-ready"]
    assert [m.name for m in replicas.choose_to_stop(members, 2)] == ["crashed", "starting"]
    assert replicas.choose_to_stop(members, 0) == []
    assert replicas.choose_to_stop(members, -1) == []


def test_template_digest_is_stable_and_tells_templates_apart() -> None:
    base = replicas.Template(argv=("serve", "--port", "{http_port}"), env={"A": "1", "B": "2"})
    same = replicas.Template(argv=("serve", "--port", "{http_port}"), env={"B": "2", "A": "1"})
    assert base.digest() == same.digest()
    others = [
        replicas.Template(argv=("serve", "--port", "{http_port}"), env={"A": "1"}),
        replicas.Template(argv=("serve",), env={"A": "1", "B": "2"}),
        replicas.Template(argv=base.argv, env=base.env, grpc=False),
        replicas.Template(argv=base.argv, env=base.env, readiness_path=None),
    ]
    assert len({base.digest(), *(t.digest() for t in others)}) == 5
    assert replicas.Template.from_dict(base.to_dict()) == base


def test_render_substitutes_ports_and_leaves_other_braces() -> None:
    template = replicas.Template(argv=("x", "{http_port}", "--grpc={grpc_port}", '{"k": 1}'))
    assert template.render(8001, 9001) == ("x", "8001", "--grpc=9001", '{"k": 1}')
    assert template.render(8001, None) == ("x", "8001", "--grpc=-1", '{"k": 1}')


def record(**changes: object) -> records.Record:
    fields: dict[str, object] = {
        "name": "iris-predictor-00001-abcde",
        "namespace": "default",
        "revision": "iris-predictor-00001",
        "pid": 4242,
        "proc_start": 1_767_225_600.25,
        "argv": ("python", "-m", "modelplane.cli", "serve", "--http-port", "4100"),
        "template": replicas.Template(argv=("python",)).to_dict(),
        "template_digest": "d1",
        "env_digest": "e1",
        "http_port": 4100,
        "grpc_port": None,
        "restarts": 3,
        "started_at": T0.isoformat(),
        "never_ready": False,
        "log_offset": 77,
    }
    fields.update(changes)
    return records.Record(**fields)  # type: ignore[arg-type]


def test_state_file_round_trip_is_atomic(tmp_path: Path) -> None:
    first, second = record(), record(name="iris-predictor-00001-zzzzz", grpc_port=4101)
    records.write(tmp_path, first)
    records.write(tmp_path, second)
    records.write(tmp_path, record(restarts=4))  # replaces the first
    files = sorted(p.name for p in (tmp_path / "replicas").iterdir())
    assert files == [
        "default.iris-predictor-00001-abcde.json",
        "default.iris-predictor-00001-zzzzz.json",
    ]
    assert records.read_all(tmp_path) == [record(restarts=4), second]
    records.remove(tmp_path, "default", first.name)
    records.remove(tmp_path, "default", first.name)  # gone already: fine
    assert records.read_all(tmp_path) == [second]


def test_an_unreadable_state_file_is_dropped(tmp_path: Path) -> None:
    records.write(tmp_path, record())
    (tmp_path / "replicas" / "default.torn.json").write_text('{"name": "torn"')
    assert records.read_all(tmp_path) == [record()]
    assert not (tmp_path / "replicas" / "default.torn.json").exists()
    assert records.read_all(tmp_path / "nowhere") == []


def test_adoption_is_by_pid_and_start_time_or_by_command_line_without_one() -> None:
    pid = os.getpid()
    argv = local.command_line(pid)
    assert argv == sys.orig_argv
    started = local.start_time(pid)
    assert started is not None
    adopted = local.adopt(pid, argv, started)
    assert adopted is not None and adopted.pid == pid and not adopted.exited()
    assert local.adopt(pid, argv, None) is not None
    # A process that exec'd or renamed itself is still the one recorded: same pid, same start.
    assert local.adopt(pid, [*argv, "--other"], started) is not None
    assert local.adopt(pid, [*argv, "--other"], None) is None
    assert local.adopt(pid, argv, started + 60) is None  # a reused pid
    assert local.adopt(2**31 - 2, argv, None) is None  # no such process


@pytest.mark.skipif(sys.platform != "linux", reason="earlier versions recorded Linux clock ticks")
def test_a_record_from_an_earlier_version_is_read_in_todays_terms() -> None:
    # Earlier versions recorded the start as clock ticks since boot (field 22 of /proc/PID/stat).
    stat = Path(f"/proc/{os.getpid()}/stat").read_text()
    ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
    legacy = record(pid=os.getpid(), proc_start=ticks).to_json()
    assert b'"proc_start": %d,' % ticks in legacy
    migrated = records.Record.from_json(legacy)
    assert isinstance(migrated.proc_start, float)
    started = local.start_time(os.getpid())
    assert started is not None and abs(migrated.proc_start - started) < 0.05
    # So the replica is still adopted by its start time alone, whatever its command line.
    assert local.adopt(os.getpid(), migrated.argv, migrated.proc_start) is not None
    assert record() == records.Record.from_json(record().to_json())


def test_log_tail_reads_only_this_runs_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    log.write_text("earlier run\n" + "".join(f"line {i}\n" for i in range(30)))
    offset = len("earlier run\n")
    tail = local.log_tail(log, offset)
    assert tail.splitlines() == [f"line {i}" for i in range(10, 30)]
    assert local.log_tail(log, offset, lines=2) == "line 28\nline 29"
    assert local.log_tail(log, local.log_size(log)) == ""
    assert local.log_tail(tmp_path / "missing.log") == ""


def test_free_ports_avoid_the_ones_taken() -> None:
    first = local.free_port()
    second = local.free_port({first})
    assert second != first and 0 < second < 65536


@pytest.mark.parametrize("phase", list(replicas.Phase))
def test_phases_read_like_kubectl(phase: replicas.Phase) -> None:
    assert str(phase) in {"Pending", "Starting", "Ready", "BackOff", "Terminating"}
