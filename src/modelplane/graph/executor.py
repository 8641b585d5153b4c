"""Walks a graph for one request, node by node, as KServe's router does.

- **Sequence**: steps in order; each gets the graph's request (`$request`) or the previous
  step's answer (`$response`). A step with a `condition` runs only if the condition holds on
  the previous answer; otherwise the sequence ends with that answer.
- **Switch**: the first step whose condition holds on the node's input; none is a 404.
- **Ensemble**: every step at once; the answer is `{stepName: answer}`.
- **Splitter**: one step, chosen at random by `weight` (percent).

A step that fails (a status outside 2xx) with `dependency: Hard` ends the graph with its own
status and body; a Soft one (the default) is passed on like any answer. The router adds no
status of its own to a step's answer: its own failures (a Switch with no match, an answer an
Ensemble cannot merge) are KServe's `{"error": ..., "cause": ...}` bodies.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from modelplane.graph import gjson, transport
from modelplane.graph import spec as spec_

Headers = Sequence[tuple[str, str]]
Call = Callable[[str, bytes, Headers], Awaitable[transport.Reply]]
NO_MATCH = "None of the routes matched with the switch condition"


class Executor:
    def __init__(self, graph: spec_.Graph, call: Call, rng: random.Random | None = None) -> None:
        self.graph = graph
        self._call = call
        self._rng = rng or random.Random()

    async def run(self, body: bytes, headers: Headers) -> transport.Reply:
        """The graph's answer to one request."""
        return await self._node(spec_.ROOT, body, headers)

    async def _node(self, name: str, body: bytes, headers: Headers) -> transport.Reply:
        node = self.graph.nodes[name]
        if node.router_type == "Sequence":
            return await self._sequence(node, body, headers)
        if node.router_type == "Ensemble":
            return await self._ensemble(node, body, headers)
        if node.router_type == "Switch":
            chosen = _first_match(node.steps, body)
            if chosen is None:
                return transport.failure(404, NO_MATCH)
        else:
            chosen = self._split(node.steps)
        return await self._step(chosen, body, headers)

    async def _step(self, step: spec_.Step, body: bytes, headers: Headers) -> transport.Reply:
        if step.node is not None:
            return await self._node(step.node, body, headers)
        assert step.url is not None
        return await self._call(step.url, body, headers)

    async def _sequence(self, node: spec_.Node, body: bytes, headers: Headers) -> transport.Reply:
        last: transport.Reply | None = None
        for step in node.steps:
            if step.condition:
                doc = _json(last.body if last is not None else body)
                if doc is _INVALID:
                    return transport.failure(
                        502, f"step {step.name!r}: its condition needs a JSON input"
                    )
                if not gjson.exists(doc, step.condition):
                    if last is None:
                        return transport.failure(
                            404, f"the condition of step {step.name!r} does not match the request"
                        )
                    return last
            data = last.body if step.data == "$response" and last is not None else body
            last = await self._step(step, data, headers)
            if step.hard and not last.ok:
                return last  # a failed hard dependency ends the graph with its answer
        assert last is not None
        return last

    async def _ensemble(self, node: spec_.Node, body: bytes, headers: Headers) -> transport.Reply:
        replies = await asyncio.gather(*(self._step(s, body, headers) for s in node.steps))
        merged: dict[str, Any] = {}
        for step, reply in zip(node.steps, replies, strict=True):
            if step.hard and not reply.ok:
                return reply  # the first failed hard dependency decides, as in KServe
            doc = _json(reply.body)
            if not isinstance(doc, dict):
                return transport.failure(
                    502, f"step {step.name!r} answered {reply.status} with a body that is "
                    "not a JSON object, which an Ensemble cannot merge",
                )  # fmt: skip
            merged[step.name] = doc
        return transport.Reply(200, orjson.dumps(merged))

    def _split(self, steps: Sequence[spec_.Step]) -> spec_.Step:
        point = self._rng.randrange(100)
        end = 0
        for step in steps:
            end += step.weight
            if point < end:
                return step
        return steps[-1]  # weights are checked to sum to 100 at admission


_INVALID: Any = object()


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _INVALID


def _first_match(steps: Sequence[spec_.Step], body: bytes) -> spec_.Step | None:
    doc = _json(body)
    if doc is _INVALID:
        return None
    return next((s for s in steps if s.condition and gjson.exists(doc, s.condition)), None)
