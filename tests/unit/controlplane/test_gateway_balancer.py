"""Routing, the traffic split, least in flight, the containerConcurrency queue and the activator.

No sockets: the balancer is exercised directly on the test's event loop with a fake clock; a
test waits on futures and events, never on a guessed sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from modelplane.controlplane.gateway import balancer, grpc_proxy, load, routes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def backend(name: str) -> routes.Backend:
    return routes.Backend(name, f"http://{name}", f"{name}:1")


def service(
    *targets: routes.RevisionTarget, name: str = "iris", ns: str = "default"
) -> routes.ServiceRoute:
    return routes.ServiceRoute(ns, name, (f"{name}.{ns}.example.com",), targets)


def target(rev: str, percent: int, *names: str, cc: int = 0) -> routes.RevisionTarget:
    return routes.RevisionTarget("default", rev, percent, tuple(backend(n) for n in names), cc)


def make(**kwargs: object) -> tuple[balancer.Balancer, list[tuple[str, str]], FakeClock]:
    demanded: list[tuple[str, str]] = []
    clock = FakeClock()
    options: dict[str, object] = {
        "on_demand": lambda ns, rev: demanded.append((ns, rev)),
        "activation_timeout": 30.0,
        "queue_per_replica": 2,
        "rng": random.Random(7),
        "clock": clock,
    }
    options.update(kwargs)
    return balancer.Balancer(**options), demanded, clock  # type: ignore[arg-type]


def test_host_then_path_resolution() -> None:
    table = routes.RouteTable(
        [service(target("a-1", 100, "a")), service(target("b-1", 100, "b"), ns="team")]
    )
    assert table.resolve("iris.default.example.com:8080", "/anything")[0].namespace == "default"  # type: ignore[union-attr]
    assert table.resolve("iris.team.example.com", "/")[0].namespace == "team"  # type: ignore[union-attr]
    route, _ = table.resolve("127.0.0.1:8080", "/v1/models/iris:predict")
    assert route is not None and route.namespace == "default"
    missing, why = table.resolve("127.0.0.1", "/v2/models/nope/infer")
    assert missing is None and "'nope'" in why and "127.0.0.1" in why
    only_team = routes.RouteTable([service(target("b-1", 100, "b"), ns="team")])
    assert only_team.by_model("iris") is not None


def test_path_parsing() -> None:
    assert routes.parse_model_path("/v1/models/iris:predict") == "iris"
    assert routes.parse_model_path("/v1/models/iris") == "iris"
    assert routes.parse_model_path("/v2/models/iris/versions/2/infer") == "iris"
    assert routes.parse_model_path("/v2/health/ready") is None


def test_weighted_split_never_picks_zero_percent() -> None:
    route = service(target("old", 90, "a"), target("new", 10, "b"), target("off", 0, "c"))
    rng = random.Random(3)
    picks = Counter(route.pick(rng).revision for _ in range(10_000))  # type: ignore[union-attr]
    assert picks["off"] == 0
    assert abs(picks["new"] / 10_000 - 0.10) < 0.02


async def test_least_in_flight_then_release() -> None:
    bal, _, _ = make()
    route = service(target("r1", 100, "a", "b", "c"))
    bal.set_routes([route])
    leases = [await bal.acquire(route, balancer.Ticket(), None) for _ in range(6)]
    assert Counter(lease.backend.name for lease in leases) == {"a": 2, "b": 2, "c": 2}
    bal.release(leases[0])
    freed = leases[0].backend.name
    nxt = await bal.acquire(route, balancer.Ticket(), None)
    assert nxt.backend.name == freed


async def test_container_concurrency_queues_fifo_and_hands_off() -> None:
    bal, _, _ = make()
    route = service(target("r1", 100, "a", cc=1))
    bal.set_routes([route])
    first = await bal.acquire(route, balancer.Ticket(), None)
    second = asyncio.ensure_future(bal.acquire(route, balancer.Ticket(), None))
    third = asyncio.ensure_future(bal.acquire(route, balancer.Ticket(), None))
    await asyncio.sleep(0)
    assert not second.done() and not third.done()
    with pytest.raises(balancer.QueueFull):  # queue_per_replica 2 x 1 replica
        await bal.acquire(route, balancer.Ticket(), None)
    bal.release(first)
    lease = await second
    assert lease.backend.name == "a" and not third.done()
    assert bal.in_flight("a") == 1
    bal.release(lease)
    bal.release(await third)
    assert bal.in_flight("a") == 0


async def test_queue_wait_is_bounded_by_the_deadline() -> None:
    bal, _, clock = make()
    route = service(target("r1", 100, "a", cc=1))
    bal.set_routes([route])
    await bal.acquire(route, balancer.Ticket(), None)
    with pytest.raises(balancer.Deadline):
        await bal.acquire(route, balancer.Ticket(), clock.now)


async def test_activator_holds_until_a_backend_appears() -> None:
    bal, demanded, _ = make()
    empty = service(target("r1", 100))
    bal.set_routes([empty])
    ticket = balancer.Ticket()
    held = asyncio.ensure_future(bal.acquire(empty, ticket, None))
    await asyncio.sleep(0)
    assert demanded == [("default", "r1")] and not held.done()
    assert bal.load.snapshot()[("default", "r1")].in_flight == 1  # counted while held
    bal.set_routes([service(target("r1", 100, "a"))])
    lease = await held
    assert lease.backend.name == "a"
    bal.release(lease)
    bal.finish(ticket)
    assert bal.load.snapshot()[("default", "r1")].in_flight == 0


async def test_activation_timeout() -> None:
    bal, _, _ = make(activation_timeout=0.0)
    empty = service(target("r1", 100))
    bal.set_routes([empty])
    with pytest.raises(balancer.ActivationTimeout, match="no replica"):
        await bal.acquire(empty, balancer.Ticket(), None)


async def test_excluded_backend_is_skipped() -> None:
    bal, _, _ = make()
    route = service(target("r1", 100, "a", "b"))
    bal.set_routes([route])
    ticket = balancer.Ticket(excluded={"a"})
    for _ in range(3):
        lease = await bal.acquire(route, ticket, None)
        assert lease.backend.name == "b"
        bal.release(lease)


async def test_held_request_follows_traffic_to_a_new_revision() -> None:
    bal, _, _ = make()
    route = service(target("r1", 100))
    bal.set_routes([route])
    held = asyncio.ensure_future(bal.acquire(route, balancer.Ticket(), None))
    await asyncio.sleep(0)
    bal.set_routes([service(target("r1", 0), target("r2", 100, "b"))])
    assert (await held).target.revision == "r2"


def test_load_integral_gives_average_concurrency() -> None:
    clock = FakeClock()
    tracker = load.LoadTracker(clock)
    key = ("default", "r1")
    start = tracker.snapshot().get(key)
    assert start is None
    tracker.enter(key)
    before = tracker.snapshot()[key]
    tracker.enter(key)
    clock.now += 2.0
    tracker.leave(key)
    clock.now += 2.0
    after = tracker.snapshot()[key]
    concurrency, rps = after.average_since(before)
    assert concurrency == pytest.approx(1.5) and rps == pytest.approx(0.25)
    assert after.requests == 2 and after.in_flight == 1


def test_grpc_model_name_scanner_reads_only_field_one() -> None:
    from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb

    request = pb.ModelInferRequest(model_name="iris", id="x")
    tensor = request.inputs.add(name="input-0", datatype="FP32", shape=[1, 4])
    tensor.contents.fp32_contents.extend([5.1, 3.5, 1.4, 0.2])
    request.raw_input_contents.append(b"\x00" * 16)
    assert grpc_proxy.field_string(request.SerializeToString()) == "iris"
    assert (
        grpc_proxy.field_string(pb.ModelReadyRequest(name="m", version="1").SerializeToString())
        == "m"
    )
    assert grpc_proxy.field_string(b"") == ""
    assert grpc_proxy.field_string(b"\x0a\xff") == ""


async def test_a_revision_failing_to_start_fails_at_once_and_one_with_a_replica_serves() -> None:
    b, demanded, _ = make()
    failing = routes.RevisionTarget("default", "iris-1", 100, (), failure="no such model (exit 1)")
    b.set_routes([service(failing)])
    with pytest.raises(balancer.RevisionFailed, match="iris-1 cannot serve: no such model"):
        await b.acquire(b.table.routes[0], balancer.Ticket(), None)
    assert demanded == []  # nothing to activate: the replica that would come cannot load
    # A replica of the same revision that did start (an earlier one) still serves.
    serving = routes.RevisionTarget(
        "default", "iris-1", 100, (backend("a"),), failure="no such model (exit 1)"
    )
    b.set_routes([service(serving)])
    lease = await b.acquire(b.table.routes[0], balancer.Ticket(), None)
    assert lease.backend.name == "a"
