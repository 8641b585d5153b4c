"""The replica manager with real processes: tests/support/replica_app.py, a tiny HTTP server, is
started, probed, killed, restarted, drained, replaced and adopted. Every wait is on the manager's
change notifications (wait_for) or a poll with a deadline; every manager is closed with stop=True
and any recorded process left over is killed, so no test leaves a process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelplane.controlplane import replicas
from modelplane.controlplane.replicas import local, records

APP = Path(__file__).resolve().parents[2] / "support" / "replica_app.py"
NS, REV = "default", "iris-predictor-00001"
TIMEOUT = 20.0

Manager = Callable[..., replicas.ReplicaManager]


def app(**env: str) -> replicas.Template:
    return replicas.Template(
        argv=(sys.executable, str(APP), "--port", "{http_port}"), env=env, grpc=False
    )


def alive(pid: int) -> bool:
    """Running, and not a zombie (an adopted replica is nobody's child here to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


async def until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll something the manager is not told about (a process's end) up to a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def ready(manager: replicas.ReplicaManager, count: int, rev: str = REV) -> Callable[[], bool]:
    def check() -> bool:
        members = manager.replicas(NS, rev)
        return len(members) == count and all(r.ready for r in members)

    return check


def restarted(manager: replicas.ReplicaManager, times: int) -> Callable[[], bool]:
    return lambda: manager.replicas(NS, REV)[0].restarts == times


async def get(replica: replicas.Replica, path: str = "/") -> Any:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"http://127.0.0.1:{replica.http_port}{path}")
    response.raise_for_status()
    return response.json()


@pytest.fixture
async def home(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "home"
    # A safety net for a failed test: no recorded replica outlives it.
    for record in records.read_all(tmp_path / "home"):
        if local.adopt(record.pid, record.argv, record.proc_start) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)


@pytest.fixture
async def manager(home: Path) -> AsyncIterator[Manager]:
    made: list[replicas.ReplicaManager] = []

    def make(**options: Any) -> replicas.ReplicaManager:
        settings: dict[str, Any] = {
            "probe_interval": 0.02,
            "drain_timeout": 10.0,
            "graceful_timeout": 10.0,
            "backoff_base": 0.05,
            "backoff_max": 0.4,
            **options,
        }
        made.append(replicas.ReplicaManager(home, **settings))
        return made[-1]

    yield make
    for each in made:
        await each.close(stop=True)


async def started(make: Manager, **options: Any) -> replicas.ReplicaManager:
    manager = make(**options)
    await manager.start()
    return manager


async def test_two_replicas_become_ready_on_distinct_ports(manager: Manager, home: Path) -> None:
    changes: list[int] = []
    mgr = await started(manager, on_change=lambda: changes.append(1))
    mgr.ensure(NS, REV, app(), 2)
    starting = mgr.replicas(NS, REV)
    assert len(starting) == 2 and all(r.phase is replicas.Phase.STARTING for r in starting)
    await mgr.wait_for(ready(mgr, 2), TIMEOUT)
    two = mgr.replicas(NS, REV)
    assert len({r.http_port for r in two}) == 2
    for replica in two:
        assert replica.name.startswith(f"{REV}-") and len(replica.name) == len(REV) + 6
        assert replica.phase is replicas.Phase.READY and not replica.never_ready
        assert replica.restarts == 0 and replica.grpc_port is None
        assert await get(replica) == {"pid": replica.pid, "port": replica.http_port, "marker": ""}
        assert replica.log_path == home / "logs" / NS / f"{replica.name}.log"
        assert f"listening on port {replica.http_port}" in replica.log_path.read_text()
        assert (home / "replicas" / f"{NS}.{replica.name}.json").exists()
        assert mgr.find(NS, replica.name) == replica
    assert mgr.find("other", two[0].name) is None
    assert mgr.all() == two
    assert changes, "on_change was called"


async def test_a_ready_replica_that_stops_answering_leaves_and_rejoins(manager: Manager) -> None:
    mgr = await started(manager, ready_probe_interval=0.02)
    mgr.ensure(NS, REV, app(), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (replica,) = mgr.replicas(NS, REV)
    await get(replica, "/sick")  # its readiness now fails, as a hung server's would

    def unready() -> bool:
        (now,) = mgr.replicas(NS, REV)
        return not now.ready and now.phase is replicas.Phase.STARTING

    await mgr.wait_for(unready, TIMEOUT)
    await get(replica, "/well")
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (back,) = mgr.replicas(NS, REV)
    assert back.pid == replica.pid and back.restarts == 0  # not restarted: only unrouted


async def test_scaling_down_stops_one_and_forgets_it(manager: Manager, home: Path) -> None:
    mgr = await started(manager)
    mgr.ensure(NS, REV, app(), 2)
    await mgr.wait_for(ready(mgr, 2), TIMEOUT)
    before = {r.name: r for r in mgr.replicas(NS, REV)}
    mgr.ensure(NS, REV, app(), 1)
    await mgr.wait_for(lambda: len(mgr.replicas(NS, REV)) == 1, TIMEOUT)
    (gone,) = [r for name, r in before.items() if mgr.find(NS, name) is None]
    assert gone.pid is not None and not alive(gone.pid)
    assert not (home / "replicas" / f"{NS}.{gone.name}.json").exists()
    assert gone.log_path.exists(), "a stopped replica's log is kept"
    (kept,) = mgr.replicas(NS, REV)
    assert kept.ready and await get(kept) == {"pid": kept.pid, "port": kept.http_port, "marker": ""}


async def test_a_killed_replica_is_restarted_on_fresh_ports(manager: Manager) -> None:
    mgr = await started(manager)
    mgr.ensure(NS, REV, app(), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (before,) = mgr.replicas(NS, REV)
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    await mgr.wait_for(lambda: mgr.replicas(NS, REV)[0].restarts == 1, TIMEOUT)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (after,) = mgr.replicas(NS, REV)
    assert after.name == before.name and after.started_at == before.started_at
    assert after.pid != before.pid and after.http_port != before.http_port
    assert after.last_failure is not None and after.last_failure.startswith("killed by SIGKILL")
    assert not after.never_ready
    assert (await get(after))["pid"] == after.pid


async def test_a_replica_that_exits_at_once_backs_off_with_its_output(manager: Manager) -> None:
    restarted_at: dict[int, float] = {}
    mgr: replicas.ReplicaManager | None = None

    def on_change() -> None:
        assert mgr is not None
        for replica in mgr.all():
            restarted_at.setdefault(replica.restarts, time.monotonic())

    mgr = await started(manager, on_change=on_change)
    mgr.ensure(NS, REV, app(REPLICA_EXIT_AT_START="1:model 'x' failed to load: no such path"), 1)
    await mgr.wait_for(lambda: mgr.replicas(NS, REV)[0].restarts >= 4, TIMEOUT)
    (replica,) = mgr.replicas(NS, REV)
    assert replica.never_ready and not replica.ready
    assert replica.phase in {replicas.Phase.BACKOFF, replicas.Phase.STARTING}
    assert replica.last_failure == "exit code 1: model 'x' failed to load: no such path"
    # Each restart waits at least twice as long as the one before (0.05 s, 0.1 s, 0.2 s).
    for n in (1, 2, 3):
        waited = restarted_at[n + 1] - restarted_at[n]
        assert waited >= replicas.backoff_delay(n, 0.05, 0.4), (n, restarted_at)
    assert replica.log_path.read_text().count("failed to load") >= 4  # one per finished run


async def test_a_command_that_cannot_start_backs_off(manager: Manager) -> None:
    mgr = await started(manager)
    mgr.ensure(NS, REV, replicas.Template(argv=("/nonexistent/modelplane",)), 1)
    await mgr.wait_for(lambda: mgr.replicas(NS, REV)[0].restarts >= 1, TIMEOUT)
    (replica,) = mgr.replicas(NS, REV)
    assert replica.last_failure is not None and "/nonexistent/modelplane" in replica.last_failure
    assert replica.never_ready and replica.pid is None


async def test_readiness_waits_for_200_or_a_tcp_connect(manager: Manager) -> None:
    seen: set[tuple[str, replicas.Phase]] = set()
    mgr: replicas.ReplicaManager | None = None

    def on_change() -> None:
        assert mgr is not None
        seen.update((r.revision, r.phase) for r in mgr.all() if r.pid is not None)

    mgr = await started(manager, on_change=on_change)
    mgr.ensure(NS, REV, app(REPLICA_READY_DELAY="0.5"), 1)
    tcp = replicas.Template(
        argv=app().argv, env={"REPLICA_READY_DELAY": "60"}, grpc=False, readiness_path=None
    )
    mgr.ensure(NS, "tcp", tcp, 1)
    await mgr.wait_for(lambda: ready(mgr, 1)() and ready(mgr, 1, "tcp")(), TIMEOUT)
    assert (REV, replicas.Phase.STARTING) in seen and (REV, replicas.Phase.READY) in seen
    (delayed,) = mgr.replicas(NS, REV)
    async with httpx.AsyncClient(trust_env=False) as client:
        url = f"http://127.0.0.1:{mgr.replicas(NS, 'tcp')[0].http_port}/v2/health/ready"
        assert (await client.get(url)).status_code == 503, "ready by TCP, not by HTTP"
    assert (await get(delayed, "/v2/health/ready")) == {}


async def test_a_template_change_replaces_replicas_without_a_gap(manager: Manager) -> None:
    gaps: list[int] = []
    mgr: replicas.ReplicaManager | None = None
    serving = False

    def on_change() -> None:
        nonlocal serving
        assert mgr is not None
        count = sum(r.ready for r in mgr.replicas(NS, REV))
        serving = serving or count > 0
        if serving and count == 0:
            gaps.append(1)

    mgr = await started(manager, on_change=on_change)
    mgr.ensure(NS, REV, app(REPLICA_MARKER="a"), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (old,) = mgr.replicas(NS, REV)
    mgr.ensure(NS, REV, app(REPLICA_MARKER="b", REPLICA_READY_DELAY="0.3"), 1)
    await mgr.wait_for(lambda: ready(mgr, 1)() and mgr.find(NS, old.name) is None, TIMEOUT)
    (new,) = mgr.replicas(NS, REV)
    assert new.name != old.name and (await get(new))["marker"] == "b"
    assert old.pid is not None and not alive(old.pid)
    assert gaps == [], "no moment without a ready replica"


async def test_retain_stops_the_revisions_not_kept(manager: Manager) -> None:
    mgr = await started(manager)
    mgr.ensure(NS, REV, app(), 1)
    mgr.ensure(NS, "iris-predictor-00002", app(), 1)
    await mgr.wait_for(lambda: ready(mgr, 1)() and ready(mgr, 1, "iris-predictor-00002")(), TIMEOUT)
    (dropped,) = mgr.replicas(NS, REV)
    mgr.retain([(NS, "iris-predictor-00002")])
    await mgr.wait_for(lambda: not mgr.replicas(NS, REV), TIMEOUT)
    assert dropped.pid is not None and not alive(dropped.pid)
    assert len(mgr.replicas(NS, "iris-predictor-00002")) == 1


async def test_stopping_drains_in_flight_requests_first(manager: Manager) -> None:
    in_flight = {"count": 1, "asked": 0}

    def count(name: str) -> int:
        in_flight["asked"] += 1
        return in_flight["count"]

    mgr = await started(manager, in_flight=count)
    mgr.ensure(NS, REV, app(), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (replica,) = mgr.replicas(NS, REV)
    assert replica.pid is not None
    mgr.ensure(NS, REV, app(), 0)
    (terminating,) = mgr.replicas(NS, REV)
    assert terminating.phase is replicas.Phase.TERMINATING and not terminating.ready
    await until(lambda: in_flight["asked"] >= 5)
    assert alive(replica.pid) and mgr.find(NS, replica.name) is not None, "still draining"
    in_flight["count"] = 0
    await mgr.wait_for(lambda: mgr.find(NS, replica.name) is None, TIMEOUT)
    assert not alive(replica.pid)


async def test_drain_and_sigterm_are_bounded(manager: Manager) -> None:
    mgr = await started(manager, in_flight=lambda name: 1, drain_timeout=0.2, graceful_timeout=0.2)
    mgr.ensure(NS, REV, app(REPLICA_IGNORE_SIGTERM="1"), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (replica,) = mgr.replicas(NS, REV)
    assert replica.pid is not None
    mgr.ensure(NS, REV, app(REPLICA_IGNORE_SIGTERM="1"), 0)
    await mgr.wait_for(lambda: not mgr.replicas(NS, REV), TIMEOUT)
    assert not alive(replica.pid), "killed after ignoring SIGTERM"


async def test_close_with_stop_leaves_no_process(manager: Manager, home: Path) -> None:
    mgr = await started(manager)
    mgr.ensure(NS, REV, app(), 2)
    mgr.ensure(NS, "crashing", app(REPLICA_EXIT_AT_START="3:bad"), 1)
    await mgr.wait_for(ready(mgr, 2), TIMEOUT)
    pids = [r.pid for r in mgr.replicas(NS, REV) if r.pid is not None]
    await mgr.close(stop=True)
    assert mgr.all() == []
    assert not any(alive(pid) for pid in pids)
    assert list((home / "replicas").iterdir()) == []


async def test_a_new_manager_adopts_running_replicas(manager: Manager, home: Path) -> None:
    first = await started(manager)
    first.ensure(NS, REV, app(), 1)
    await first.wait_for(ready(first, 1), TIMEOUT)
    (replica,) = first.replicas(NS, REV)
    await first.close(stop=False)
    assert replica.pid is not None and alive(replica.pid)

    second = await started(manager)
    (adopted,) = second.replicas(NS, REV)
    assert (adopted.name, adopted.pid, adopted.http_port) == (
        replica.name,
        replica.pid,
        replica.http_port,
    )
    assert adopted.started_at == replica.started_at and not adopted.never_ready
    second.ensure(NS, REV, app(), 1)
    await second.wait_for(ready(second, 1), TIMEOUT)
    assert [r.pid for r in second.all()] == [replica.pid], "adopted, no new process"
    assert (await get(second.replicas(NS, REV)[0]))["pid"] == replica.pid

    # An adopted replica that dies is seen and restarted like an own one.
    os.kill(replica.pid, signal.SIGKILL)
    await second.wait_for(lambda: second.replicas(NS, REV)[0].restarts == 1, TIMEOUT)
    await second.wait_for(ready(second, 1), TIMEOUT)
    (restarted,) = second.replicas(NS, REV)
    assert restarted.pid != replica.pid
    assert restarted.last_failure is not None and "adopted" in restarted.last_failure


async def test_a_dead_or_foreign_recorded_pid_is_not_adopted(manager: Manager, home: Path) -> None:
    first = await started(manager)
    first.ensure(NS, REV, app(), 1)
    await first.wait_for(ready(first, 1), TIMEOUT)
    (replica,) = first.replicas(NS, REV)
    await first.close(stop=False)
    pid = replica.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await until(lambda: not alive(pid))
    # A record naming a live process that runs something else (this test) is not adopted either.
    (record,) = records.read_all(home)
    foreign = records.Record(
        **{**asdict(record), "name": f"{REV}-frgn1", "pid": os.getpid(), "proc_start": None}
    )
    records.write(home, foreign)

    second = await started(manager)
    assert second.all() == []
    assert records.read_all(home) == []
    second.ensure(NS, REV, app(), 1)
    await second.wait_for(ready(second, 1), TIMEOUT)
    (fresh,) = second.replicas(NS, REV)
    assert fresh.name != replica.name and fresh.pid != pid
    assert alive(os.getpid())


CONTROL_PLANE = """
import asyncio, sys
from pathlib import Path
from modelplane.controlplane import replicas

async def main() -> None:
    manager = replicas.ReplicaManager(Path(sys.argv[1]), probe_interval=0.02)
    await manager.start()
    template = replicas.Template(argv=tuple(sys.argv[2:]), grpc=False)
    manager.ensure("default", "iris-predictor-00001", template, 1)
    await manager.wait_for(lambda: any(r.ready for r in manager.all()), 20)
    print(manager.all()[0].pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_replicas_outlive_a_killed_control_plane_and_are_adopted(
    manager: Manager, home: Path
) -> None:
    control_plane = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CONTROL_PLANE, str(home), *app().argv,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert control_plane.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        pid = int(await control_plane.stdout.readline())
    control_plane.kill()
    await control_plane.wait()
    assert alive(pid), "the replica runs on without its control plane"

    mgr = await started(manager)
    mgr.ensure(NS, REV, app(), 1)
    await mgr.wait_for(ready(mgr, 1), TIMEOUT)
    (adopted,) = mgr.replicas(NS, REV)
    assert adopted.pid == pid and (await get(adopted))["pid"] == pid
    await mgr.close(stop=True)
    await until(lambda: not alive(pid))


async def test_backoff_starts_again_from_the_base_after_serving_a_while(manager: Manager) -> None:
    """Three crashes, each after being ready longer than backoff_reset (0 s here): each restart
    waits backoff_base (0.5 s), where without the reset the third would wait 2 s."""
    mgr = await started(manager, backoff_base=0.5, backoff_max=60.0, backoff_reset=0.0)
    mgr.ensure(NS, REV, app(), 1)
    waits = []
    for crash in (1, 2, 3):
        await mgr.wait_for(ready(mgr, 1), TIMEOUT)
        (replica,) = mgr.replicas(NS, REV)
        assert replica.pid is not None
        os.kill(replica.pid, signal.SIGKILL)
        killed = time.monotonic()
        await mgr.wait_for(restarted(mgr, crash), TIMEOUT)
        waits.append(time.monotonic() - killed)
    assert all(wait >= 0.5 for wait in waits), waits
    assert waits[2] < replicas.backoff_delay(2, 0.5, 60.0), waits
