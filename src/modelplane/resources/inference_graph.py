"""KServe's InferenceGraph (`serving.kserve.io/v1alpha1`) as pydantic models, and what a type
cannot say about one (a root node, one target per step, Splitter weights summing to 100).

A graph is a map of named router nodes; `root` receives the request. Each node is a Sequence,
Switch, Ensemble or Splitter of steps, and a step targets an InferenceService (`serviceName`),
a URL (`serviceUrl`) or another node (`nodeName`). The router that runs a graph lives in
`modelplane.graph`; the control plane only starts it. Deployment fields (`resources`,
`minReplicas`, `affinity`, ...) are accepted as KServe's CRD has them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelplane.resources import meta

ROOT = "root"
RouterType = Literal["Sequence", "Switch", "Ensemble", "Splitter"]
Dependency = Literal["Soft", "Hard"]
#: KServe's router defaults for its HTTP server, seconds (serviceClient has none).
SERVER_READ, SERVER_WRITE, SERVER_IDLE = 60, 60, 180


class InferenceStep(meta.Model):
    name: str | None = None
    node_name: str | None = None
    service_name: str | None = None
    service_url: str | None = None
    data: Literal["$request", "$response"] | None = None
    weight: int | None = Field(None, ge=0, le=100)
    condition: str | None = None
    dependency: Dependency | None = None

    def targets(self) -> list[str]:
        """The target fields that are set (exactly one is valid)."""
        fields = (
            ("nodeName", self.node_name),
            ("serviceName", self.service_name),
            ("serviceUrl", self.service_url),
        )
        return [name for name, value in fields if value]


class InferenceRouter(meta.Model):
    router_type: RouterType
    steps: list[InferenceStep] = Field(default_factory=list)


class RouterTimeouts(meta.Model):
    server_read: int | None = Field(None, ge=0)
    server_write: int | None = Field(None, ge=0)
    server_idle: int | None = Field(None, ge=0)
    service_client: int | None = Field(None, ge=0)


class InferenceGraphSpec(meta.Model):
    carried_keys = frozenset({"affinity", "nodeSelector", "tolerations"})

    nodes: dict[str, InferenceRouter]
    resources: dict[str, Any] | None = None
    timeout: int | None = Field(None, ge=0)
    min_replicas: int | None = Field(None, ge=0)
    max_replicas: int | None = Field(None, ge=0)
    scale_target: int | None = Field(None, ge=0)
    scale_metric: Literal["cpu", "memory", "concurrency", "rps"] | None = None
    router_timeouts: RouterTimeouts | None = None


class InferenceGraph(meta.Object):
    kind: Literal["InferenceGraph"]
    spec: InferenceGraphSpec


def causes(graph: InferenceGraph) -> list[meta.Cause]:
    """What KServe's admission webhook refuses in a graph, each with its field path."""
    nodes = graph.spec.nodes
    found: list[meta.Cause] = []
    if ROOT not in nodes:
        found.append(meta.required(("spec", "nodes", ROOT), "a graph starts at its 'root' node"))
    for node_name, node in nodes.items():
        at = ("spec", "nodes", node_name)
        if not node.steps:
            found.append(meta.required((*at, "steps"), "a node needs at least one step"))
        names: set[str] = set()
        for index, step in enumerate(node.steps):
            where = (*at, "steps", index)
            targets = step.targets()
            if len(targets) != 1:
                detail = "exactly one of nodeName, serviceName, serviceUrl must be specified"
                bad = meta.invalid(where, targets, detail) if targets else None
                found.append(bad or meta.required(where, detail))
            if step.node_name and step.node_name not in nodes:
                found.append(meta.invalid((*where, "nodeName"), step.node_name, "no such node"))
            if step.node_name == node_name:
                detail = "a node cannot be its own step"
                found.append(meta.invalid((*where, "nodeName"), step.node_name, detail))
            if step.service_url and not step.service_url.startswith(
                ("http://", "https://", "grpc://")
            ):
                detail = "must be an http://, https:// or grpc:// URL"
                found.append(meta.invalid((*where, "serviceUrl"), step.service_url, detail))
            if step.name:
                if step.name in names:
                    found.append(meta.duplicate((*where, "name"), step.name))
                names.add(step.name)
            if node.router_type == "Splitter" and step.weight is None:
                found.append(meta.required((*where, "weight"), "a Splitter step needs a weight"))
            if node.router_type == "Switch" and not step.condition:
                detail = "a Switch step needs a condition"
                found.append(meta.required((*where, "condition"), detail))
        if node.router_type == "Splitter" and node.steps:
            total = sum(step.weight or 0 for step in node.steps)
            if total != 100:
                detail = "the weights of a Splitter's steps must sum to 100"
                found.append(meta.invalid((*at, "steps"), total, detail))
    found += _cycle_causes(nodes)
    return found


def _cycle_causes(nodes: dict[str, InferenceRouter]) -> list[meta.Cause]:
    """A node reached again from itself would recurse forever on the first request."""
    edges = {
        name: [s.node_name for s in node.steps if s.node_name in nodes]
        for name, node in nodes.items()
    }
    state: dict[str, int] = {}

    def visit(name: str) -> str | None:
        state[name] = 1
        for nxt in edges[name]:
            assert nxt is not None
            if state.get(nxt) == 1:
                return nxt
            if nxt not in state and (hit := visit(nxt)) is not None:
                return hit
        state[name] = 2
        return None

    for name in nodes:
        if name not in state and (hit := visit(name)) is not None:
            return [meta.invalid(("spec", "nodes", hit), hit, "the graph's nodes form a cycle")]
    return []
