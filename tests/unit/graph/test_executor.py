"""Routing decisions of the graph router, with the steps' answers given by a fake transport."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import pytest

from modelplane.graph import executor, spec, transport


class Services:
    """Answers per URL, and what each URL was sent."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, Any, dict[str, str]]] = []
        self.concurrent = 0
        self.most_concurrent = 0

    async def __call__(self, url: str, body: bytes, headers: executor.Headers) -> transport.Reply:
        self.sent.append((url, orjson.loads(body), dict(headers)))
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        await asyncio.sleep(0)  # let the other ensemble steps start: they run at once
        self.concurrent -= 1
        status, answer = self.answers[url]
        return transport.Reply(status, orjson.dumps(answer))


def graph(nodes: dict[str, Any]) -> spec.Graph:
    return spec.parse({"nodes": nodes})


def step(url: str, **kw: Any) -> dict[str, Any]:
    return {"serviceUrl": f"http://{url}", **kw}


async def run(g: spec.Graph, services: Services, body: Any, seed: int = 0) -> transport.Reply:
    walker = executor.Executor(g, services, random.Random(seed))
    return await walker.run(orjson.dumps(body), [("x-request-id", "r1")])


async def test_sequence_passes_the_request_or_the_previous_response() -> None:
    services = Services(
        {
            "http://a": (200, {"from": "a"}),
            "http://b": (200, {"from": "b"}),
            "http://c": (200, {"from": "c"}),
        }
    )
    g = graph(
        {
            "root": {
                "routerType": "Sequence",
                "steps": [step("a"), step("b", data="$response"), step("c", data="$request")],
            }
        }
    )
    reply = await run(g, services, {"x": 1})
    assert orjson.loads(reply.body) == {"from": "c"}
    assert [(u, b) for u, b, _ in services.sent] == [
        ("http://a", {"x": 1}),
        ("http://b", {"from": "a"}),
        ("http://c", {"x": 1}),
    ]
    assert all(h["x-request-id"] == "r1" for _, _, h in services.sent)


async def test_sequence_condition_ends_the_sequence_with_the_last_answer() -> None:
    services = Services({"http://a": (200, {"predictions": ["cat"]}), "http://b": (200, {})})
    g = graph(
        {
            "root": {
                "routerType": "Sequence",
                "steps": [step("a"), step("b", condition='[@this].#(predictions.0=="dog")')],
            }
        }
    )
    reply = await run(g, services, {})
    assert (reply.status, orjson.loads(reply.body)) == (200, {"predictions": ["cat"]})
    assert [u for u, _, _ in services.sent] == ["http://a"]


@pytest.mark.parametrize(("dependency", "expected"), [("Hard", (503, "a")), ("Soft", (200, "b"))])
async def test_sequence_hard_failure_stops_soft_goes_on(
    dependency: str, expected: tuple[int, str]
) -> None:
    services = Services({"http://a": (503, {"error": "a"}), "http://b": (200, {"error": "b"})})
    g = graph(
        {
            "root": {
                "routerType": "Sequence",
                "steps": [step("a", dependency=dependency), step("b", data="$response")],
            }
        }
    )
    reply = await run(g, services, {})
    assert (reply.status, orjson.loads(reply.body)["error"]) == expected
    if dependency == "Soft":  # the failed step's body is what the next step got
        assert services.sent[1][1] == {"error": "a"}


async def test_switch_takes_the_first_match_on_the_input_or_answers_404() -> None:
    services = Services({"http://a": (200, "A"), "http://b": (200, "B")})
    g = graph(
        {
            "root": {
                "routerType": "Switch",
                "steps": [
                    step("a", condition="instances.#(intval>10)"),
                    step("b", condition="instances.#(intval<=10)"),
                ],
            }
        }
    )
    assert orjson.loads((await run(g, services, {"instances": [{"intval": 11}]})).body) == "A"
    assert orjson.loads((await run(g, services, {"instances": [{"intval": 3}]})).body) == "B"
    missing = await run(g, services, {"other": 1})
    assert missing.status == 404
    assert orjson.loads(missing.body) == {
        "error": "Failed to process request",
        "cause": executor.NO_MATCH,
    }


async def test_ensemble_runs_steps_at_once_and_keys_answers_by_step_name() -> None:
    services = Services({"http://a": (200, {"p": 1}), "http://b": (500, {"error": "b down"})})
    g = graph(
        {
            "root": {
                "routerType": "Ensemble",
                "steps": [step("a", name="first"), step("b", name="second")],
            }
        }
    )
    reply = await run(g, services, {})
    assert services.most_concurrent == 2
    assert (reply.status, orjson.loads(reply.body)) == (
        200,
        {"first": {"p": 1}, "second": {"error": "b down"}},
    )


async def test_ensemble_hard_failure_decides_the_answer() -> None:
    services = Services({"http://a": (200, {"p": 1}), "http://b": (502, {"error": "b"})})
    g = graph(
        {"root": {"routerType": "Ensemble", "steps": [step("a"), step("b", dependency="Hard")]}}
    )
    reply = await run(g, services, {})
    assert (reply.status, orjson.loads(reply.body)) == (502, {"error": "b"})


async def test_ensemble_of_a_non_object_answer_is_the_routers_502_not_a_500() -> None:
    services = Services({"http://a": (200, [1, 2])})
    g = graph({"root": {"routerType": "Ensemble", "steps": [step("a")]}})
    reply = await run(g, services, {})
    assert reply.status == 502 and b"cannot merge" in reply.body


async def test_splitter_follows_the_weights() -> None:
    services = Services({"http://a": (200, "a"), "http://b": (200, "b")})
    g = graph(
        {"root": {"routerType": "Splitter", "steps": [step("a", weight=20), step("b", weight=80)]}}
    )
    walker = executor.Executor(g, services, random.Random(7))
    picks = Counter([orjson.loads((await walker.run(b"{}", [])).body) for _ in range(2000)])
    assert 0.15 < picks["a"] / 2000 < 0.25 and picks["a"] + picks["b"] == 2000


async def test_steps_may_be_nodes() -> None:
    services = Services({"http://a": (200, {"v": 1}), "http://b": (200, {"v": 2})})
    g = graph(
        {
            "root": {
                "routerType": "Sequence",
                "steps": [{"nodeName": "pick", "dependency": "Hard"}, step("b", data="$response")],
            },
            "pick": {"routerType": "Switch", "steps": [step("a", condition="go")]},
        }
    )
    assert orjson.loads((await run(g, services, {"go": 1})).body) == {"v": 2}
    stopped = await run(g, services, {"stop": 1})  # no match: a hard failure of the node
    assert stopped.status == 404 and len(services.sent) == 2


def test_a_graph_the_router_cannot_route_is_refused_at_start() -> None:
    with pytest.raises(spec.GraphError, match="condition"):
        graph({"root": {"routerType": "Switch", "steps": [step("a", condition="a.#(b==")]}})
    with pytest.raises(spec.GraphError, match="root"):
        graph({"other": {"routerType": "Sequence", "steps": [step("a")]}})
    with pytest.raises(spec.GraphError, match="no node"):
        graph({"root": {"routerType": "Sequence", "steps": [{"nodeName": "x"}]}})


def test_service_names_resolve_to_their_predict_url_and_timeouts_default_as_kserves() -> None:
    g = spec.parse(
        {"nodes": {"root": {"routerType": "Sequence", "steps": [{"serviceName": "iris"}]}}},
        namespace="ns",
        domain="d.io",
    )
    assert g.root.steps[0].url == "http://iris.ns.d.io/v1/models/iris:predict"
    assert g.timeouts == spec.Timeouts(60.0, 60.0, 180.0, None)
