"""The core group (/api/v1) as far as kubectl needs it: namespaces, pods with logs, events.

Namespaces are derived ("default" and every namespace an object lives in). Pods come from a
`PodSource` (the replicas of `modelplane up`), events from an `EventSource` (the reconciler's
recorder), with the field selectors `kubectl describe` sends (`involvedObject.name=...`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from modelplane.controlplane import errors, selectors
from modelplane.controlplane.apiserver import context, responses, table
from modelplane.resources import catalog

Obj = dict[str, Any]


class PodSource(Protocol):
    def list_pods(self, namespace: str | None) -> list[Obj]: ...

    def read_log(self, namespace: str, name: str, *, container: str | None, follow: bool,
                 tail_lines: int | None) -> AsyncIterator[bytes]: ...


class EventSource(Protocol):
    def list_events(self, namespace: str | None) -> list[Obj]: ...


_EVENT_FIELDS = {"involvedObject.name", "involvedObject.namespace", "involvedObject.kind",
                 "involvedObject.uid", "involvedObject.apiVersion", "type", "reason",
                 "metadata.name", "metadata.namespace"}
_EVENT_COLUMNS = (
    catalog.Column("Last Seen", "date", ".lastTimestamp"),
    catalog.Column("Type", "string", ".type"),
    catalog.Column("Reason", "string", ".reason"),
    catalog.Column("Object", "string", ""),
    catalog.Column("Message", "string", ".message"),
)
_POD_COLUMNS = (
    catalog.Column("Ready", "string", ""),
    catalog.Column("Status", "string", ""),
    catalog.Column("Restarts", "integer", ""),
    catalog.Column("Age", "string", ""),
    catalog.Column("IP", "string", "", priority=1),
    catalog.Column("Node", "string", "", priority=1),
)
_NAMESPACE_COLUMNS = (catalog.Column("Status", "string", ".status.phase"),)


def _list(kind: str, items: list[Obj], rv: str) -> Obj:
    return {"apiVersion": "v1", "kind": f"{kind}List", "metadata": {"resourceVersion": rv},
            "items": items}


def _namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _answer(ctx: context.Context, request: Request, kind: str, items: list[Obj],
            columns: tuple[catalog.Column, ...], cells: Any = None, single: bool = False,
            ) -> Response:
    version = responses.wants_table(request)
    rv = ctx.store.resource_version
    if version is not None:
        return responses.json_response(table.table(
            columns, items, now=ctx.now(), version=version, resource_version=rv, cells=cells,
            include_object=request.query_params.get("includeObject", "Metadata")))
    return responses.json_response(items[0] if single else _list(kind, items, rv))


async def namespaces(ctx: context.Context, request: Request) -> Response:
    items = [_namespace(n) for n in ctx.store.namespaces()]
    name = request.path_params.get("name")
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items:
            raise errors.not_found("namespaces", str(name))
    return _answer(ctx, request, "Namespace", items, _NAMESPACE_COLUMNS, single=name is not None)


def events_handler(source: EventSource | None) -> Any:
    async def events(ctx: context.Context, request: Request) -> Response:
        items = source.list_events(context.namespace_of(request)) if source else []
        wanted = _event_fields(request.query_params.get("fieldSelector"))
        items = [e for e in items if all(_field(e, k) == v for k, v in wanted.items())]
        return _answer(ctx, request, "Event", items, _EVENT_COLUMNS, _event_cells(ctx))
    return events


def _event_fields(selector: str | None) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for term in filter(None, (selector or "").split(",")):
        key, sep, value = term.partition("=")
        key = key.rstrip("=")
        value = value.lstrip("=")
        if not sep or key not in _EVENT_FIELDS:
            raise errors.BadRequest(
                f"field selector {term!r} is not supported for events: use one of "
                + ", ".join(sorted(_EVENT_FIELDS)))
        wanted[key] = value
    return wanted


def _field(event: Obj, path: str) -> str:
    value: Any = event
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)


def _event_cells(ctx: context.Context) -> Any:
    def cells(event: Obj) -> list[Any]:
        seen = table.cell(_EVENT_COLUMNS[0], event, ctx.now())
        involved = event.get("involvedObject", {})
        target = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"
        return [seen, event.get("type"), event.get("reason"), target, event.get("message")]
    return cells


def _pod_cells(ctx: context.Context) -> Any:
    def cells(pod: Obj) -> list[Any]:
        status = pod.get("status") or {}
        containers = status.get("containerStatuses") or []
        declared = len((pod.get("spec") or {}).get("containers") or containers)
        ready = sum(1 for c in containers if c.get("ready"))
        waiting = [c["state"]["waiting"].get("reason") for c in containers
                   if (c.get("state") or {}).get("waiting")]
        created = pod.get("metadata", {}).get("creationTimestamp")
        age = table.cell(catalog.Column("Age", "date", ".t"), {"t": created}, ctx.now())
        return [f"{ready}/{declared}", (waiting or [status.get("phase", "Unknown")])[0],
                sum(int(c.get("restartCount", 0)) for c in containers), age,
                status.get("podIP"), (pod.get("spec") or {}).get("nodeName", "<none>")]
    return cells


def _pods_of(source: PodSource | None, namespace: str | None) -> list[Obj]:
    if source is None:
        raise errors.NotFound("pods are not served by this control plane")
    return source.list_pods(namespace)


def pods_handler(source: PodSource | None) -> Any:
    async def pods(ctx: context.Context, request: Request) -> Response:
        namespace = context.namespace_of(request)
        items = _pods_of(source, namespace)
        query = request.query_params
        selects = selectors.matcher(query.get("labelSelector"), query.get("fieldSelector"))
        items = [p for p in items if selects(p)]
        name = request.path_params.get("name")
        if name is not None:
            items = [p for p in items if p["metadata"]["name"] == name]
            if not items:
                raise errors.not_found("pods", str(name))
        return _answer(ctx, request, "Pod", items, _POD_COLUMNS, _pod_cells(ctx),
                       single=name is not None)
    return pods


def logs_handler(source: PodSource | None) -> Any:
    async def logs(ctx: context.Context, request: Request) -> Response:
        if source is None:
            raise errors.NotFound("pods are not served by this control plane")
        query = request.query_params
        try:
            tail = int(query["tailLines"]) if "tailLines" in query else None
        except ValueError:
            raise errors.BadRequest("tailLines must be an integer") from None
        stream = source.read_log(
            str(request.path_params["namespace"]), str(request.path_params["name"]),
            container=query.get("container"), follow=responses.flag(request, "follow"),
            tail_lines=tail)
        return StreamingResponse(stream, media_type="text/plain")
    return logs
