"""The InferenceService reconciler: desired state in the store becomes revisions, replicas,
routes and status.

Level-triggered, as kopf and Kubernetes controllers are: every pass reads all desired state (the
store) and all actual state (replicas, gateway load) and converges, so a missed event or a
restart of the control plane loses nothing. A pass is synchronous and short; it never waits on
a process — replicas converge in the background and call back, which triggers the next pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelplane.controlplane import (
    autoscaler,
    components,
    errors,
    events,
    graphs,
    isvc_status,
    replicas,
    revisions,
    store,
    templates,
    traffic,
)
from modelplane.controlplane.gateway import Gateway, routes
from modelplane.controlplane.settings import UpSettings
from modelplane.resources import catalog, inference_service

log = logging.getLogger("modelplane.controlplane")

WATCHED = (
    catalog.INFERENCE_SERVICE,
    catalog.SERVING_RUNTIME,
    catalog.CLUSTER_SERVING_RUNTIME,
    catalog.INFERENCE_GRAPH,
)


TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


@dataclass(frozen=True)
class _Component:
    """What one component's pass saw: its plan, revisions, latest and traffic."""

    plan: templates.Plan
    views: dict[str, isvc_status.RevisionView] = field(default_factory=dict)
    latest: str | None = None
    decision: traffic.Decision | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _components(obj: dict[str, Any]) -> list[str]:
    try:
        return inference_service.InferenceService.from_object(obj).components()
    except ValueError:
        return ["predictor"]


@dataclass
class _Outcome:
    routes: list[routes.ServiceRoute] = field(default_factory=list)
    keep: set[tuple[str, str]] = field(default_factory=set)


class Reconciler:
    def __init__(
        self,
        objects: store.Store,
        manager: replicas.ReplicaManager,
        gateway: Gateway,
        scaler: autoscaler.Autoscaler,
        settings: UpSettings,
        *,
        serve_argv: Sequence[str],
        now: Callable[[], datetime],
        clock: Callable[[], float],
        recorder: events.Recorder | None = None,
    ) -> None:
        self._store = objects
        self._replicas = manager
        self._gateway = gateway
        self._scaler = scaler
        self._settings = settings
        self._serve_argv = tuple(serve_argv)
        self._pythons = settings.pythons  # parsed once, not on every pass
        self._now = now
        self._clock = clock
        self.events = recorder or events.Recorder(now)
        self._dirty = asyncio.Event()
        self._last_sample = float("-inf")
        self._routes: dict[tuple[str, str], list[routes.ServiceRoute]] = {}
        self._table: list[routes.ServiceRoute] = []
        self._started = clock()
        self.graphs = graphs.GraphReconciler(
            objects,
            manager,
            domain=settings.domain,
            cli_argv=self._serve_argv[:-1],
            propagate=settings.router_headers,
            now=self._timestamp,
            record=self.events.record,
        )

    def poke(self) -> None:
        """Something changed: run a pass soon."""
        self._dirty.set()

    def on_demand(self, namespace: str, revision: str) -> None:
        """The activator holds a request for a revision with no replica: scale it up now."""
        self._scaler.poke((namespace, revision))
        self.poke()

    async def run(self) -> None:
        """Reconcile on every change, and at least once per tick (autoscaling, backoff)."""
        watchers = [asyncio.create_task(self._watch(kind)) for kind in WATCHED]
        try:
            while True:
                try:
                    await asyncio.wait_for(self._dirty.wait(), timeout=self._settings.tick)
                except TimeoutError:
                    pass
                self._dirty.clear()
                try:
                    self.reconcile()
                except Exception:
                    log.exception("reconcile failed; retry in %s s", self._settings.tick)
        finally:
            for task in watchers:
                task.cancel()

    async def _watch(self, kind: catalog.Kind) -> None:
        while True:
            try:
                async for _event in self._store.watch(kind):
                    self.poke()
            except errors.Expired:
                self.poke()

    # -- one pass -------------------------------------------------------------------------

    def reconcile(self) -> None:
        self._sample()
        services, _ = self._store.list(catalog.INFERENCE_SERVICE)
        owned: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for rev in self._store.list(catalog.REVISION)[0]:
            meta = rev["metadata"]
            owned[(meta["namespace"], meta.get("labels", {}).get(catalog.ISVC_LABEL, ""))].append(
                rev
            )
        runtimes = templates.Runtimes(
            namespaced=self._store.list(catalog.SERVING_RUNTIME)[0],
            cluster=self._store.list(catalog.CLUSTER_SERVING_RUNTIME)[0],
        )
        table: list[routes.ServiceRoute] = []
        keep: set[tuple[str, str]] = set()
        routed: dict[tuple[str, str], list[routes.ServiceRoute]] = {}
        for obj in services:
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            revs = owned.pop(key, [])
            try:
                outcome = self._one(obj, revs, runtimes)
            except Exception:
                # One service's failure must not stop the others, nor its own replicas: keep
                # what it had and try again on the next pass.
                log.exception(
                    "%s/%s: reconcile failed; retry in %s s", *key, self._settings.tick
                )
                outcome = _Outcome(
                    self._routes.get(key, []),
                    {(key[0], r["metadata"]["name"]) for r in revs},
                )
            keep |= outcome.keep
            table += outcome.routes
            routed[key] = outcome.routes
        self._routes = routed
        graphed = self.graphs.reconcile(services)  # after the services: routers reach them
        keep |= graphed.keep
        table += graphed.routes
        for (namespace, _name), orphans in owned.items():
            for rev in orphans:  # their InferenceService is gone: so are they
                self._store.delete(catalog.REVISION, namespace, rev["metadata"]["name"])
                self._scaler.forget((namespace, rev["metadata"]["name"]))
        self._replicas.retain(keep)
        if table != self._table:  # most passes change nothing: leave the gateway's table be
            self._gateway.set_routes(table)
            self._table = table

    def _sample(self) -> None:
        now = self._clock()
        if now - self._last_sample < self._settings.tick * 0.9:
            return
        self._last_sample = now
        loads = self._gateway.load()
        for key, current in loads.items():
            self._scaler.observe(key, current)
        # A routed revision no request reached has no counter in the gateway; it is idle, and
        # must be seen as idle, or a minReplicas: 0 revision would never go to zero.
        for service in self._routes.values():
            for target in (t for route in service for t in route.targets):
                if target.key not in loads:
                    self._scaler.record(target.key, 0.0, 0)

    def _one(
        self, obj: dict[str, Any], revs: list[dict[str, Any]], runtimes: templates.Runtimes
    ) -> _Outcome:
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        present = _components(obj)
        by_component: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rev in revs:
            by_component[revisions.component_of(rev)].append(rev)
        for component, gone in by_component.items():
            if component not in present:  # taken out of the spec: its revisions go with it
                for rev in gone:
                    self._store.delete(catalog.REVISION, namespace, rev["metadata"]["name"])
                    self._scaler.forget((namespace, rev["metadata"]["name"]))
        # The service's host reaches the transformer when there is one, else the predictor.
        entry = "transformer" if "transformer" in present else "predictor"
        outcome = _Outcome()
        states = {
            component: self._component(
                obj, component, by_component[component], runtimes, outcome, component == entry
            )
            for component in present
        }
        predictor = states["predictor"]
        if predictor.latest is None or predictor.decision is None:
            self._write_status(obj, isvc_status.invalid(obj, predictor.plan, self._settings.domain))
            return outcome
        domain = self._settings.domain
        status = isvc_status.build(
            obj, predictor.plan, predictor.views, predictor.latest, predictor.decision, domain
        )
        for component in present[1:]:
            state = states[component]
            url = f"http://{components.hosts(name, component, namespace, domain)[0]}"
            status_entry = (
                isvc_status.component_entry(url, state.views, state.latest, state.decision)
                if state.latest is not None and state.decision is not None
                else None
            )
            condition = isvc_status.component_condition(
                component, state.plan, state.views, state.latest, state.decision
            )
            isvc_status.add_component(status, component, status_entry, condition)
        for component, state in states.items():
            for item in (status.get("components") or {}).get(component, {}).get("traffic", []):
                if item["revisionName"] in state.tags:
                    tagged = isvc_status.tag_hosts(item["tag"], name, namespace, domain, component)
                    item["url"] = f"http://{tagged[0]}"
        self._write_status(obj, status)
        return outcome

    def _component(
        self,
        obj: dict[str, Any],
        component: str,
        revs: list[dict[str, Any]],
        runtimes: templates.Runtimes,
        outcome: _Outcome,
        entry: bool,
    ) -> _Component:
        """One component's revisions, traffic, replicas and routes (into `outcome`)."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        domain = self._settings.domain
        revs.sort(key=revisions.number_of)
        plan = templates.plan(
            obj,
            runtimes,
            serve_argv=self._serve_argv,
            component=component,
            pythons=self._pythons,
        )
        latest = revs[-1] if revs else None
        if plan.spec is not None and (
            latest is None or revisions.digest_of(latest) != revisions.digest(plan.spec)
        ):
            number = (revisions.number_of(latest) if latest else 0) + 1
            latest = self._store.create(
                catalog.REVISION, revisions.new(obj, number, plan.spec, component)
            )
            revs.append(latest)
            log.info("%s/%s: created revision %s", namespace, name, latest["metadata"]["name"])
            self.events.record(
                obj, "Normal", "RevisionCreated", f"created revision {latest['metadata']['name']}"
            )
        if latest is None:
            return _Component(plan)
        views = {
            rev["metadata"]["name"]: isvc_status.RevisionView.of(
                rev, self._replicas.replicas(namespace, rev["metadata"]["name"])
            )
            for rev in revs
        }
        latest_name = latest["metadata"]["name"]
        canary = plan.canary
        decision = traffic.decide(
            latest_name,
            views[latest_name].ready,
            canary,
            isvc_status.rollout_of(obj, component),
            known=set(views),
        )
        # KServe's tag routing (opt-in by annotation): `latest-` and `prev-` hosts reach one
        # revision whatever the split, so a canary can be tried before it takes traffic.
        annotations = obj["metadata"].get("annotations") or {}
        tags = (
            {t.revision: t.tag for t in decision.targets if t.tag}
            if annotations.get(TAG_ROUTING) == "true"
            else {}
        )
        targets: list[routes.RevisionTarget] = []
        for rev in revs:
            rev_name = rev["metadata"]["name"]
            view = views[rev_name]
            routed = decision.percent(rev_name) > 0 or rev_name in tags
            desired = self._desired(namespace, rev, view, routed, canary, rev is latest)
            self._replicas.ensure(namespace, rev_name, self._template(rev, component), desired)
            outcome.keep.add((namespace, rev_name))
            self._write_revision_status(rev, view, desired)
            if not routed:
                continue
            # Read again after ensure(): a replica it chose to stop is no longer a backend.
            now = isvc_status.RevisionView.of(rev, self._replicas.replicas(namespace, rev_name))
            backends = now.backends
            failure = None if backends else now.failure
            concurrency = int(rev["spec"].get("containerConcurrency", 0))
            percent = decision.percent(rev_name)
            if percent > 0:
                targets.append(
                    routes.RevisionTarget(
                        namespace, rev_name, percent, backends, concurrency, failure
                    )
                )
            if rev_name in tags:
                only = routes.RevisionTarget(
                    namespace, rev_name, 100, backends, concurrency, failure
                )
                outcome.routes.append(
                    routes.ServiceRoute(
                        namespace,
                        f"{tags[rev_name]}-{name}"
                        + ("" if component == "predictor" else f"-{component}"),
                        hosts=isvc_status.tag_hosts(
                            tags[rev_name], name, namespace, domain, component
                        ),
                        targets=(only,),
                        timeout=plan.timeout,
                        logger=plan.logger,
                        component=component,
                        isvc=name,
                        entry=False,
                    )
                )
        own = components.hosts(name, component, namespace, domain)
        outcome.routes.insert(
            0,
            routes.ServiceRoute(
                namespace,
                name if entry else f"{name}-{component}",
                hosts=(f"{name}.{namespace}.{domain}", *own) if entry else own,
                targets=tuple(targets),
                timeout=plan.timeout,
                logger=plan.logger,
                component=component,
                isvc=name,
                entry=entry,
            ),
        )
        return _Component(plan, views, latest_name, decision, tags)

    def _template(self, rev: dict[str, Any], component: str) -> replicas.Template:
        """A revision's process; a transformer or explainer is told where the gateway is, to
        reach the predictor host through it (not part of the revision: the port may change)."""
        template = revisions.template_of(rev)
        ingress = self.graphs.ingress
        if component == "predictor" or ingress is None:
            return template
        # grpc-v2 dials the gateway's gRPC port (when it has one), every other protocol REST.
        grpc = ingress.grpc if components.speaks_grpc(template.argv) else None
        address = grpc or ingress.http
        return dataclasses.replace(template, env={**template.env, components.ADDRESS_ENV: address})

    def _desired(
        self,
        namespace: str,
        rev: dict[str, Any],
        view: isvc_status.RevisionView,
        routed: bool,
        canary: int | None,
        is_latest: bool,
    ) -> int:
        key = (namespace, rev["metadata"]["name"])
        policy = templates.policy_of(rev, self._settings)
        if routed:
            wanted = self._scaler.desired(key, policy, view.ready_replicas)
            if self._clock() - self._started < policy.stable_window:
                # Just (re)started: no window of load observed yet. Hold the scale the last
                # control plane chose, so adopted replicas are not stopped only to come back.
                wanted = max(wanted, int((rev.get("status") or {}).get("desiredReplicas", 0)))
            # Knative's initial scale: a revision that never served must come up once.
            return max(wanted, 1) if not view.ready else wanted
        if is_latest and not view.ready and (canary is None or canary > 0):
            return max(1, policy.min_replicas)
        self._scaler.forget(key)
        return 0

    # -- status -----------------------------------------------------------------------------

    def _write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        status = isvc_status.with_times(obj.get("status") or {}, status, self._timestamp())
        if status == obj.get("status"):
            return
        for kind, reason, message in isvc_status.changes(obj.get("status") or {}, status):
            self.events.record(obj, kind, reason, message)
        fresh = {**obj, "metadata": _without_version(obj["metadata"]), "status": status}
        try:
            self._store.replace_status(catalog.INFERENCE_SERVICE, fresh)
        except errors.NotFound:
            pass  # deleted meanwhile; the next pass cleans up

    def _write_revision_status(
        self, rev: dict[str, Any], view: isvc_status.RevisionView, desired: int
    ) -> None:
        status = isvc_status.revision(rev, view, desired)
        status = isvc_status.with_times(rev.get("status") or {}, status, self._timestamp())
        if status == rev.get("status"):
            return
        before = rev.get("status") or {}
        for kind, reason, message in isvc_status.revision_changes(before, status):
            self.events.record(rev, kind, reason, message)
        rev["status"] = status
        fresh = {**rev, "metadata": _without_version(rev["metadata"])}
        try:
            self._store.replace_status(catalog.REVISION, fresh)
        except errors.NotFound:
            pass

    def _timestamp(self) -> str:
        return self._now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_version(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "resourceVersion"}
