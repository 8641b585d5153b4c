"""InferenceGraphs made real: router replicas, a gateway route to them, and status.

As KServe's controller does, each graph runs its own router (`modelplane router`, the process
boundary is the contract: the control plane never imports `graph/`), given the graph's spec with
every `serviceName` step turned into its service's endpoint (`/v1/models/NAME:predict`,
`/v2/models/NAME/infer` or `grpc://` by the service's protocolVersion) on the gateway, so
revisions, canaries and scale-from-zero apply to each step. The router's replicas are one
replica set, `{graph}-router`, kept at `minReplicas` (at least one; the router does not scale);
a change of spec or of a step's endpoint rolls them. The gateway routes the graph's host,
`{name}.{namespace}.{domain}`, and gRPC calls naming the graph, to them. Ready when a router
replica is; a step naming an InferenceService that does not exist is said in the status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelplane.controlplane import conditions, errors, isvc_status, replicas, store
from modelplane.controlplane.gateway import routes
from modelplane.resources import catalog, inference_graph, inference_service

READY_PATH = "/readyz"


@dataclass
class Outcome:
    routes: list[routes.ServiceRoute] = field(default_factory=list)
    keep: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class Ingress:
    """Where routers reach services: the gateway's HTTP and gRPC addresses (HOST:PORT)."""

    http: str
    grpc: str | None


def router_name(graph: str) -> str:
    return f"{graph}-router"


def resolve(
    spec: dict[str, Any],
    namespace: str,
    domain: str,
    services: dict[str, dict[str, Any]],
    grpc: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The spec with each `serviceName` step given its `serviceUrl`, and the names not found."""
    out = orjson.loads(orjson.dumps(spec))
    missing: list[str] = []
    for node in (out.get("nodes") or {}).values():
        for step in node.get("steps") or []:
            name = step.get("serviceName")
            if not name or step.get("serviceUrl"):
                continue
            protocol = "v1"
            if name in services:
                try:
                    isvc = inference_service.InferenceService.from_object(services[name])
                    protocol = isvc.predictor_model().protocol_version or "v1"
                except ValueError:
                    pass
            elif name not in missing:
                missing.append(name)
            if protocol == "grpc-v2" and not grpc:
                protocol = "v2"  # the gateway serves no gRPC: the same service over REST
            host = f"{name}.{namespace}.{domain}"
            if protocol == "grpc-v2":
                step["serviceUrl"] = f"grpc://{host}/{name}"
            elif protocol == "v2":
                step["serviceUrl"] = f"http://{host}/v2/models/{name}/infer"
            else:
                step["serviceUrl"] = f"http://{host}/v1/models/{name}:predict"
    return out, missing


class GraphReconciler:
    def __init__(
        self,
        objects: store.Store,
        manager: replicas.ReplicaManager,
        *,
        domain: str,
        cli_argv: Sequence[str],
        propagate: str = "Authorization",
        now: Callable[[], str],
        record: Callable[[dict[str, Any], str, str, str], None],
    ) -> None:
        self._store = objects
        self._replicas = manager
        self._domain = domain
        self._propagate = propagate
        self._cli = tuple(cli_argv)
        self._now = now
        self._record = record
        self.ingress: Ingress | None = None  # set once the gateway listens

    def reconcile(self, services: Sequence[dict[str, Any]]) -> Outcome:
        outcome = Outcome()
        by_ns: dict[str, dict[str, dict[str, Any]]] = {}
        for svc in services:
            meta = svc["metadata"]
            by_ns.setdefault(meta["namespace"], {})[meta["name"]] = svc
        for obj in self._store.list(catalog.INFERENCE_GRAPH)[0]:
            self._one(obj, by_ns.get(obj["metadata"]["namespace"], {}), outcome)
        return outcome

    def _one(self, obj: dict[str, Any], services: dict[str, Any], outcome: Outcome) -> None:
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        host = f"{name}.{namespace}.{self._domain}"
        try:
            graph = inference_graph.InferenceGraph.from_object(obj)
        except ValueError as exc:
            return self._status(
                obj, host, conditions.Condition("Ready", False, "InvalidSpec", str(exc))
            )
        if name in services:
            message = f"InferenceService {namespace}/{name} has the same host {host}"
            return self._status(
                obj, host, conditions.Condition("Ready", False, "HostConflict", message)
            )
        if self.ingress is None:
            return  # the gateway is not listening yet: nothing to point routers at
        raw = graph.spec.model_dump(by_alias=True, exclude_none=True, exclude={"resources"})
        spec, missing = resolve(raw, namespace, self._domain, services, bool(self.ingress.grpc))
        key = (namespace, router_name(name))
        self._replicas.ensure(
            namespace,
            key[1],
            self._template(name, namespace, spec, graph),
            max(1, graph.spec.min_replicas or 1),
        )
        outcome.keep.add(key)
        view = isvc_status.RevisionView.of(
            {"metadata": {"name": key[1]}}, self._replicas.replicas(*key)
        )
        outcome.routes.append(
            routes.ServiceRoute(
                namespace,
                name,
                hosts=(host,),
                targets=(
                    routes.RevisionTarget(
                        namespace, key[1], 100, view.backends, failure=view.failure
                    ),
                ),
                timeout=float(graph.spec.timeout) if graph.spec.timeout else None,
            )
        )
        if missing:
            listed = ", ".join(missing)
            ready = conditions.Condition(
                "Ready", False, "ServiceNotFound", f"no InferenceService {listed} in {namespace}"
            )
        elif view.backends:
            ready = conditions.Condition("Ready", True)
        elif view.failure:
            ready = conditions.Condition("Ready", False, "RouterFailed", view.failure)
        else:
            ready = conditions.Condition("Ready", False, "RouterNotReady", "the router is starting")
        self._status(obj, host, ready)

    def _template(
        self, name: str, namespace: str, spec: dict[str, Any], graph: inference_graph.InferenceGraph
    ) -> replicas.Template:
        assert self.ingress is not None
        argv = [
            *self._cli,
            "router",
            "--graph-json",
            orjson.dumps(spec).decode(),
            "--name",
            name,
            "--namespace",
            namespace,
            "--domain",
            self._domain,
            "--ingress",
            self.ingress.http,
            "--http-port",
            "{http_port}",
            "--grpc-port",
            "{grpc_port}",
            "--propagate-headers",
            self._propagate,
        ]
        if self.ingress.grpc:
            argv += ["--ingress-grpc", self.ingress.grpc]
        resources = graph.spec.resources or {}
        return replicas.Template(
            tuple(argv), {}, readiness_path=READY_PATH, grpc=True, resources=resources
        )

    def _status(self, obj: dict[str, Any], host: str, ready: conditions.Condition) -> None:
        status: dict[str, Any] = {"url": f"http://{host}", "conditions": [ready]}
        status = isvc_status.with_times(obj.get("status") or {}, status, self._now())
        if status == obj.get("status"):
            return
        before = isvc_status.dig(obj, "status", "conditions") or []
        was = next((c.get("status") for c in before if c.get("type") == "Ready"), None)
        if was != ready.status:
            kind = "Normal" if ready.ok else "Warning"
            self._record(obj, kind, ready.reason or "Ready", ready.message or "the graph is ready")
        meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        try:
            self._store.replace_status(
                catalog.INFERENCE_GRAPH, {**obj, "metadata": meta, "status": status}
            )
        except errors.NotFound:
            pass  # deleted meanwhile; the next pass forgets it
