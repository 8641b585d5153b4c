"""A graph as the router walks it: nodes of steps, each step a URL or a node, and the timeouts.

The router is given the InferenceGraph's `spec` (KServe's `--graph-json`) with every
`serviceName` step already given its `serviceUrl` by the control plane, as KServe's controller
does. A `serviceName` step left without one is resolved here, to the service's V1 predict URL
on the graph's own domain. Conditions are checked once, at start: a router with a condition
GJSON would not parse exits with the reason instead of failing every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelplane.graph import gjson
from modelplane.resources import inference_graph

ROOT = inference_graph.ROOT


class GraphError(ValueError):
    """The graph cannot be routed (a missing node, a bad condition)."""


@dataclass(frozen=True)
class Step:
    name: str  # the step's name, or its index in the node
    node: str | None  # another node of the graph
    url: str | None  # http(s)://... or grpc://host:port/model
    data: str  # "$request" or "$response"
    condition: str | None
    weight: int
    hard: bool


@dataclass(frozen=True)
class Node:
    router_type: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Timeouts:
    server_read: float
    server_write: float
    server_idle: float
    service_client: float | None


@dataclass(frozen=True)
class Graph:
    nodes: Mapping[str, Node]
    timeouts: Timeouts

    @property
    def root(self) -> Node:
        return self.nodes[ROOT]


def service_url(service: str, namespace: str, domain: str, protocol: str = "v1") -> str:
    """Where a `serviceName` step goes: its predictor's endpoint, as KServe's controller fills
    it in (`/v1/models/NAME:predict`, `/v2/models/NAME/infer`; `grpc://` for grpc-v2)."""
    host = f"{service}.{namespace}.{domain}"
    if protocol == "grpc-v2":
        return f"grpc://{host}/{service}"
    if protocol == "v2":
        return f"http://{host}/v2/models/{service}/infer"
    return f"http://{host}/v1/models/{service}:predict"


def parse(raw: Mapping[str, Any], *, namespace: str = "default", domain: str = "") -> Graph:
    """The router's graph from an InferenceGraph `spec` (a dict, as in `--graph-json`)."""
    try:
        spec = inference_graph.InferenceGraphSpec.model_validate(dict(raw))
    except ValueError as exc:
        raise GraphError(f"the graph spec is malformed: {exc}") from None
    if ROOT not in spec.nodes:
        raise GraphError("the graph has no 'root' node")
    nodes: dict[str, Node] = {}
    for node_name, node in spec.nodes.items():
        steps = []
        for index, step in enumerate(node.steps):
            where = f"node {node_name!r} step {step.name or index}"
            url = step.service_url
            if not url and step.service_name:
                url = service_url(step.service_name, namespace, domain or "example.com")
            if not url and not step.node_name:
                raise GraphError(f"{where}: needs a serviceUrl, serviceName or nodeName")
            if step.node_name and step.node_name not in spec.nodes:
                raise GraphError(f"{where}: no node named {step.node_name!r}")
            if step.condition:
                try:
                    gjson.check(step.condition)
                except gjson.ConditionError as exc:
                    raise GraphError(f"{where}: condition {step.condition!r}: {exc}") from None
            steps.append(
                Step(
                    name=step.name or str(index),
                    node=step.node_name,
                    url=None if step.node_name else url,
                    data=step.data or "$request",
                    condition=step.condition or None,
                    weight=step.weight or 0,
                    hard=step.dependency == "Hard",
                )
            )
        nodes[node_name] = Node(node.router_type, tuple(steps))
    given = spec.router_timeouts or inference_graph.RouterTimeouts.model_validate({})
    timeouts = Timeouts(
        server_read=float(_or(given.server_read, inference_graph.SERVER_READ)),
        server_write=float(_or(given.server_write, inference_graph.SERVER_WRITE)),
        server_idle=float(_or(given.server_idle, inference_graph.SERVER_IDLE)),
        service_client=float(given.service_client) if given.service_client else None,
    )
    return Graph(nodes, timeouts)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
