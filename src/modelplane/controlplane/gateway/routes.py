"""What the gateway routes to, and how a request finds its service and revision.

The reconciler describes the world as `ServiceRoute`s (one per InferenceService): the hosts it
answers on, and its revisions with their traffic percent and READY replicas. `RouteTable` is the
immutable, pre-indexed form the data path reads: a swap of the whole table is atomic, so a request
never sees half an update. Lookup follows KServe's ingress: the `Host` header first
(`{name}.{namespace}.{domain}`), then the model name in the path (`/v1/models/NAME...`,
`/v2/models/NAME...`) or in a gRPC request, resolved in namespace "default" first, otherwise to
the one service of that name anywhere.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """One READY replica: `http_url` "http://127.0.0.1:PORT", `grpc_target` "127.0.0.1:PORT"."""

    name: str
    http_url: str
    grpc_target: str | None = None


@dataclass(frozen=True)
class RevisionTarget:
    namespace: str
    revision: str
    percent: int
    backends: tuple[Backend, ...]
    container_concurrency: int = 0  # 0 = unlimited per replica
    # Why the revision's replicas could not start (a model that cannot load), while none is
    # READY: requests fail at once with it instead of waiting for a replica that won't come.
    failure: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.revision)


@dataclass(frozen=True)
class LoggerSpec:
    """KServe's `predictor.logger`: where to POST CloudEvents, which (all|request|response), and
    the request headers (`metadataHeaders`) each event carries in its `metadata` attribute."""

    url: str
    mode: str = "all"
    metadata_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceRoute:
    namespace: str
    name: str
    hosts: tuple[str, ...]
    targets: tuple[RevisionTarget, ...]
    timeout: float | None = None
    logger: LoggerSpec | None = None
    # Which of its InferenceService's components this route reaches. Only the entry route (the
    # transformer when there is one, else the predictor) answers by model name; an explainer's
    # route also takes the `:explain` calls sent to the service's entry.
    component: str = "predictor"
    isvc: str = ""  # the InferenceService, where the route's name is not it
    entry: bool = True

    @property
    def service_key(self) -> tuple[str, str]:
        return (self.namespace, self.isvc or self.name)

    def target(self, revision: str) -> RevisionTarget | None:
        for target in self.targets:
            if target.revision == revision:
                return target
        return None

    def pick(self, rng: random.Random) -> RevisionTarget | None:
        """A revision by weighted random over percent; 0% is never picked while any has weight.

        With no weight at all (a route being rewritten), any revision with replicas will do.
        """
        total = sum(max(t.percent, 0) for t in self.targets)
        if total > 0:
            point = rng.random() * total
            for target in self.targets:
                if target.percent <= 0:
                    continue
                point -= target.percent
                if point < 0:
                    return target
            return next(t for t in reversed(self.targets) if t.percent > 0)
        ready = [t for t in self.targets if t.backends]
        if ready:
            return rng.choice(ready)
        return self.targets[0] if self.targets else None


def parse_model_path(path: str) -> str | None:
    """The model name in a V1 or V2 inference path, or None."""
    if path.startswith("/v1/models/"):
        rest = path[len("/v1/models/") :]
        name = rest.split(":", 1)[0].split("/", 1)[0]
        return name or None
    if path.startswith("/v2/models/"):
        name = path[len("/v2/models/") :].split("/", 1)[0]
        return name or None
    return None


class RouteTable:
    """An immutable index of routes by host, by (namespace, name) and by name."""

    def __init__(self, routes: Sequence[ServiceRoute] = ()) -> None:
        self.routes = tuple(routes)
        self._by_host: dict[str, ServiceRoute] = {}
        self._by_key: dict[tuple[str, str], ServiceRoute] = {}
        self._by_name: dict[str, list[ServiceRoute]] = {}
        self._revisions: dict[tuple[str, str], RevisionTarget] = {}
        self._explainers: dict[tuple[str, str], ServiceRoute] = {}
        for route in self.routes:
            for target in route.targets:
                self._revisions.setdefault(target.key, target)
            for host in route.hosts:
                self._by_host[host.lower()] = route
            if route.component == "explainer":
                self._explainers[route.service_key] = route
            self._by_key[(route.namespace, route.name)] = route
            if route.entry:
                self._by_name.setdefault(route.name, []).append(route)

    def service(self, namespace: str, name: str) -> ServiceRoute | None:
        return self._by_key.get((namespace, name))

    def by_host(self, host: str) -> ServiceRoute | None:
        if not host:
            return None
        host = host.lower()
        route = self._by_host.get(host)
        if route is None and ":" in host and not host.endswith("]"):
            route = self._by_host.get(host.rsplit(":", 1)[0])
        return route

    def by_model(self, name: str) -> ServiceRoute | None:
        route = self._by_key.get(("default", name))
        if route is not None and route.entry:
            return route
        candidates = self._by_name.get(name, [])
        return candidates[0] if len(candidates) == 1 else None

    def resolve(self, host: str, path: str) -> tuple[ServiceRoute | None, str]:
        """The route for an HTTP request, and (when none) a sentence naming what was tried."""
        route, why = self._resolve(host, path)
        if route is not None and route.entry and path.endswith(":explain"):
            # KServe's ingress: `:explain` on the service goes to its explainer, if it has one.
            return self._explainers.get(route.service_key, route), why
        return route, why

    def _resolve(self, host: str, path: str) -> tuple[ServiceRoute | None, str]:
        route = self.by_host(host)
        if route is not None:
            return route, ""
        name = parse_model_path(path)
        if name is not None:
            route = self.by_model(name)
            if route is not None:
                return route, ""
            many = len(self._by_name.get(name, [])) > 1
            why = "is ambiguous across namespaces" if many else "matches no InferenceService"
            return None, f"no route for host {host!r}, and model {name!r} from the path {why}"
        return None, f"no route for host {host!r} or path {path!r}"

    def revision(self, key: tuple[str, str]) -> RevisionTarget | None:
        return self._revisions.get(key)

    def revision_keys(self) -> set[tuple[str, str]]:
        return set(self._revisions)
