"""InferenceService and Revision status, written as KServe and Knative write them.

Pure functions from what the reconciler observed (revisions, their replicas, the traffic
decision) to status dicts: `url`, the conditions `Ready`, `PredictorReady`, `IngressReady`
and `LatestDeploymentReady`, `components.predictor` with its revisions and traffic, and
`modelStatus` with `FailedToLoad` and the reason a model could not load. A transformer and an
explainer add their own `components.<name>` entry (url, revisions, traffic) and condition
(`TransformerReady`, `ExplainerReady`), and the service is Ready only when every component is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelplane.controlplane import conditions, replicas, revisions, traffic
from modelplane.controlplane.conditions import Condition
from modelplane.controlplane.gateway import routes

if TYPE_CHECKING:
    from modelplane.controlplane.templates import Plan


@dataclass(frozen=True)
class RevisionView:
    """One revision as observed in this pass."""

    name: str
    ready_replicas: int
    actual_replicas: int
    restarts: int
    ever_ready: bool
    failure: str | None
    backends: tuple[routes.Backend, ...]
    last_exit: str | None = None  # why a replica that ran last stopped (it was restarted)
    exit_code: int | None = None  # the failing replica's, for lastFailureInfo
    unschedulable: str | None = None  # the scheduler's reason, while a replica waits for room

    @classmethod
    def of(cls, rev: Mapping[str, Any], running: Sequence[replicas.Replica]) -> RevisionView:
        ready = [r for r in running if r.ready and r.phase == replicas.Phase.READY]
        failing = [r for r in running if r.never_ready and r.last_failure]
        failures = [summary(r.last_failure or "") for r in failing]
        exits = [r for r in running if r.restarts and r.last_failure and not r.never_ready]
        last = max(exits, key=lambda r: r.restarts, default=None)
        return cls(
            name=rev["metadata"]["name"],
            ready_replicas=len(ready),
            actual_replicas=sum(r.phase != replicas.Phase.TERMINATING for r in running),
            restarts=sum(r.restarts for r in running),
            ever_ready=revisions.ever_ready(dict(rev)) or bool(ready),
            failure=failures[0] if failures else None,
            backends=tuple(
                routes.Backend(
                    r.name,
                    f"http://{r.host}:{r.http_port}",
                    f"{r.host}:{r.grpc_port}" if r.grpc_port else None,
                )
                for r in ready
            ),
            last_exit=summary(last.last_failure) if last and last.last_failure else None,
            exit_code=_exit_code(failing[0]) if failing else None,
            unschedulable=next(
                (r.pending_reason for r in running if r.phase == replicas.Phase.PENDING), None
            ),
        )

    @property
    def ready(self) -> bool:
        return self.ever_ready

    @property
    def failed(self) -> bool:
        return not self.ever_ready and self.failure is not None


def _exit_code(replica: replicas.Replica) -> int | None:
    return None if replica.last_exit is None else replica.last_exit.termination.exit_code


def summary(failure: str) -> str:
    """The line of a replica's last output that says why it stopped, and its exit code.

    A replica's failure carries the tail of its log; the status wants the one line a person
    acts on (`modelplane serve` ends with `Error: ...`), without timestamps or ports, so the
    message stays the same from one restart to the next.
    """
    head, _, tail = failure.partition(": ")
    if head.startswith("OOMKilled"):
        return head  # killed at its memory limit: its last output does not say why
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Error: "):
            return f"{line[len('Error: '):]} ({head})"
    for line in reversed(lines):
        marker = line.find(" ERROR ")
        if marker >= 0:
            return f"{line[marker + len(' ERROR '):]} ({head})"
    return f"{lines[-1]} ({head})" if lines else head


def hosts(name: str, namespace: str, domain: str) -> tuple[str, ...]:
    return (f"{name}.{namespace}.{domain}", f"{name}-predictor.{namespace}.{domain}")


def dig(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing or not an object: a status
    someone wrote through the API may have any shape, and the next pass must still run."""
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def tag_hosts(
    tag: str, name: str, namespace: str, domain: str, component: str = "predictor"
) -> tuple[str, ...]:
    """The hosts of a tagged revision, as KServe's tag routing names them."""
    return (
        f"{tag}-{name}-{component}-{namespace}.{domain}",
        f"{tag}-{name}-{component}.{namespace}.{domain}",
    )


def rollout_of(obj: Mapping[str, Any], component: str = "predictor") -> traffic.Rollout:
    predictor = dig(obj, "status", "components", component)
    latest = dig(predictor, "latestRolledoutRevision")
    previous = dig(predictor, "previousRolledoutRevision")
    return traffic.Rollout(
        latest if isinstance(latest, str) else None,
        previous if isinstance(previous, str) else None,
    )


def _model_state(view: RevisionView) -> str:
    if view.ready:
        return "Loaded"
    if view.failed:
        return "FailedToLoad"
    return "Loading" if view.actual_replicas else "Pending"


def build(
    obj: Mapping[str, Any],
    plan: Plan,
    views: Mapping[str, RevisionView],
    latest: str,
    decision: traffic.Decision,
    domain: str,
) -> dict[str, Any]:
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    newest = views[latest]
    serving = [views[t.revision] for t in decision.targets if t.percent > 0]
    predictor_ready = any(v.ready for v in serving)
    if newest.failed:
        deploy = Condition(
            "LatestDeploymentReady", False, "RevisionFailed", f"{latest}: {newest.failure}"
        )
    elif not newest.ready:
        deploy = Condition("LatestDeploymentReady", False, "Deploying", f"{latest} is loading")
    else:
        deploy = Condition("LatestDeploymentReady", True)
    if plan.failure is not None:  # the spec changed to something that cannot run
        deploy = Condition("LatestDeploymentReady", False, plan.failure[0], plan.failure[1])
    predictor = (
        Condition("PredictorReady", True)
        if predictor_ready
        else Condition("PredictorReady", False, *_why_not(newest))
    )
    ingress = (
        Condition("IngressReady", True)
        if predictor_ready
        else Condition("IngressReady", False, "NoReadyRevision", "no revision can take traffic")
    )
    if predictor_ready and deploy.ok:
        ready = Condition("Ready", True)
    else:
        why = deploy if not deploy.ok else predictor
        ready = Condition("Ready", False, why.reason, why.message)
    active = _model_state(serving[0]) if serving else "Pending"
    if not predictor_ready and newest.failed:
        active = "FailedToLoad"
    target = "FailedToLoad" if plan.failure else _model_state(newest)
    if plan.failure:
        transition = "InvalidSpec"
    elif newest.failed:
        transition = "BlockedByFailedLoad"
    else:
        transition = "UpToDate" if newest.ready else "InProgress"
    model_status: dict[str, Any] = {
        "states": {"activeModelState": active, "targetModelState": target},
        "transitionStatus": transition,
        "copies": {
            "failedCopies": 1 if newest.failed else 0,
            "totalCopies": newest.actual_replicas,
        },
    }
    failure = plan.failure or (("ModelLoadFailed", newest.failure) if newest.failed else None)
    if failure is not None:
        info: dict[str, Any] = {"reason": failure[0], "message": failure[1]}
        if not plan.failure and newest.exit_code is not None:
            info["exitCode"] = newest.exit_code  # as KServe copies the container's last exit
        model_status["lastFailureInfo"] = info
    components = component_entry(
        f"http://{name}-predictor.{namespace}.{domain}", views, latest, decision
    )
    return {
        "url": f"http://{name}.{namespace}.{domain}",
        "address": {"url": f"http://{name}.{namespace}.{domain}"},
        "observedGeneration": obj["metadata"].get("generation", 1),
        "conditions": [ingress, deploy, predictor, ready],
        "components": {"predictor": components},
        "modelStatus": model_status,
    }


def component_entry(
    url: str, views: Mapping[str, RevisionView], latest: str, decision: traffic.Decision
) -> dict[str, Any]:
    """`status.components.<component>`: its url, revisions and traffic, as KServe writes them."""
    latest_ready_names = [n for n, v in views.items() if v.ready]
    rollout = decision.rollout
    entry: dict[str, Any] = {
        "latestCreatedRevision": latest,
        "traffic": [t.as_status() for t in decision.targets],
        "url": url,
    }
    if latest_ready_names:
        entry["latestReadyRevision"] = max(latest_ready_names, key=_number)
    if rollout.latest_rolled_out:
        entry["latestRolledoutRevision"] = rollout.latest_rolled_out
    if rollout.previous_rolled_out:
        entry["previousRolledoutRevision"] = rollout.previous_rolled_out
    return entry


def component_condition(
    component: str,
    plan: Plan,
    views: Mapping[str, RevisionView],
    latest: str | None,
    decision: traffic.Decision | None,
) -> Condition:
    """`TransformerReady` or `ExplainerReady`: some revision it routes to is ready, and its
    spec can run."""
    kind = f"{component.capitalize()}Ready"
    if plan.failure is not None:
        return Condition(kind, False, *plan.failure)
    if latest is None or decision is None:
        return Condition(kind, False, "RevisionMissing", f"the {component} has no revision yet")
    if any(views[t.revision].ready for t in decision.targets if t.percent > 0):
        return Condition(kind, True)
    return Condition(kind, False, *_why_not(views[latest]))


def add_component(
    status: dict[str, Any], component: str, entry: dict[str, Any] | None, condition: Condition
) -> None:
    """Put a transformer's or explainer's entry and condition into the service's status; a
    component that is not ready makes the service not Ready."""
    if entry is not None:
        status.setdefault("components", {})[component] = entry
    found = status["conditions"]
    ready_at = next(i for i, c in enumerate(found) if c.type == "Ready")
    found.insert(ready_at, condition)
    if not condition.ok and found[-1].ok:
        found[-1] = Condition("Ready", False, condition.reason, condition.message)


def _why_not(view: RevisionView) -> tuple[str, str]:
    if view.failed:
        return "RevisionFailed", f"{view.name}: {view.failure}"
    if view.unschedulable:  # as Knative says a revision whose pods no node takes
        return "Unschedulable", f"{view.name}: {view.unschedulable}"
    return "RevisionMissing", f"{view.name} is not ready yet"


def _number(name: str) -> int:
    return revisions.number_of({"metadata": {"name": name}})


def invalid(obj: Mapping[str, Any], plan: Plan, domain: str) -> dict[str, Any]:
    """Status of an InferenceService that has no revision because its spec cannot run."""
    reason, message = plan.failure or ("InvalidSpec", "the predictor cannot run")
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    return {
        "url": f"http://{name}.{namespace}.{domain}",
        "observedGeneration": obj["metadata"].get("generation", 1),
        "conditions": [
            Condition("IngressReady", False, reason, message),
            Condition("LatestDeploymentReady", False, reason, message),
            Condition("PredictorReady", False, reason, message),
            Condition("Ready", False, reason, message),
        ],
        "modelStatus": {
            "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
            "transitionStatus": "InvalidSpec",
            "lastFailureInfo": {"reason": reason, "message": message},
        },
    }


def revision(rev: Mapping[str, Any], view: RevisionView, desired: int) -> dict[str, Any]:
    if view.ready:
        ready = Condition("Ready", True)
    elif view.failed:
        ready = Condition("Ready", False, "FailedToLoad", view.failure or "")
    elif view.unschedulable:
        ready = Condition("Ready", False, "Unschedulable", view.unschedulable)
    else:
        ready = Condition("Ready", False, "Deploying", "waiting for a replica to become ready")
    return {
        "everReady": view.ever_ready,
        "desiredReplicas": desired,
        "actualReplicas": view.actual_replicas,
        "readyReplicas": view.ready_replicas,
        "restarts": view.restarts,
        **({"lastReplicaExit": view.last_exit} if view.last_exit else {}),
        "conditions": [ready],
    }


def with_times(previous: Mapping[str, Any], status: dict[str, Any], now: str) -> dict[str, Any]:
    """Turn the Condition objects of `status` into stored conditions with transition times."""
    wanted = status.get("conditions", [])
    before = dig(previous, "conditions")
    before = [c for c in before if isinstance(c, Mapping)] if isinstance(before, list) else []
    status["conditions"] = conditions.merge(before, wanted, now)
    return status


def _ready(status: Mapping[str, Any]) -> str | None:
    found = dig(status, "conditions")
    listed = found if isinstance(found, list) else []
    return next(
        (c.get("status") for c in listed if isinstance(c, Mapping) and c.get("type") == "Ready"),
        None,
    )


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The events (type, reason, message) an InferenceService's status change is worth."""
    found: list[tuple[str, str, str]] = []
    failure = dig(after, "modelStatus", "lastFailureInfo")
    if failure and dig(before, "modelStatus", "lastFailureInfo") != failure:
        found.append(("Warning", failure.get("reason", "Failed"), failure.get("message", "")))
    old_traffic = dig(before, "components", "predictor", "traffic")
    new_traffic = dig(after, "components", "predictor", "traffic")
    if new_traffic and new_traffic != old_traffic:
        split = ", ".join(f"{t['revisionName']} {t['percent']}%" for t in new_traffic)
        found.append(("Normal", "TrafficChanged", f"traffic: {split}"))
    if _ready(after) == "True" and _ready(before) != "True":
        found.append(("Normal", "InferenceServiceReady", "the InferenceService is ready"))
    return found


def revision_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """The events a Revision's status change is worth: scaling and replica restarts."""
    found: list[tuple[str, str, str]] = []
    old_desired, new_desired = before.get("desiredReplicas"), after.get("desiredReplicas")
    if isinstance(old_desired, int) and old_desired != new_desired:
        found.append(("Normal", "Scaled", f"desired replicas {old_desired} -> {new_desired}"))
    restarts_before = before.get("restarts", 0)
    if after.get("restarts", 0) > (restarts_before if isinstance(restarts_before, int) else 0):
        why = after.get("lastReplicaExit")
        exited = f"a replica exited ({why})" if why else "a replica exited"
        found.append(
            ("Warning", "BackOff", f"{exited} and was restarted ({after['restarts']} restarts "
             "in all)")
        )  # fmt: skip
    return found
