"""The object URLs of the served kinds: collections (LIST, WATCH, POST, DELETE all) and objects
(GET, PUT, PATCH, DELETE) with their `status` subresource.

Reads answer a Table when kubectl asks for one; writes run the validation hook (defaults and
warnings, or 422 with causes) before the store, and `dryRun=All` stops short of storing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelplane.controlplane import errors
from modelplane.controlplane.apiserver import context, patch, responses, table, watch
from modelplane.resources import catalog

Obj = dict[str, Any]


def _encoder(ctx: context.Context, kind: catalog.Kind, request: Request) -> watch.Encode:
    version = responses.wants_table(request)
    if version is None:
        return lambda obj: obj
    include = request.query_params.get("includeObject", "Metadata")
    return lambda obj: table.table(kind.columns, [obj], now=ctx.now(), version=version,
                                   include_object=include,
                                   resource_version=obj["metadata"].get("resourceVersion", ""))


async def collection(ctx: context.Context, request: Request) -> Response:
    kind, namespace = context.resolve(request), context.namespace_of(request)
    if request.method == "GET":
        if responses.flag(request, "watch"):
            return watch.start(request, ctx.store, kind, namespace,
                               _encoder(ctx, kind, request), ctx.bookmark_interval)
        return _list(ctx, kind, namespace, request)
    context.writable(kind, request)
    if request.method == "POST":
        if kind.namespaced and namespace is None:
            raise errors.MethodNotAllowed(f"create {kind.plural} in a namespace's URL")
        body = context.check_body(kind, await responses.read_object(request), namespace)
        obj, warnings = ctx.validate(kind, body, request)
        created = ctx.store.create(kind, obj, dry_run=context.dry_run(request))
        return responses.json_response(created, 201, warnings)
    if request.method == "DELETE":
        items, _ = ctx.store.list(kind, namespace,
                                  label_selector=request.query_params.get("labelSelector"),
                                  field_selector=request.query_params.get("fieldSelector"))
        dry = context.dry_run(request)
        gone = [ctx.store.delete(kind, o["metadata"].get("namespace"), o["metadata"]["name"],
                                 dry_run=dry) for o in items]
        return responses.json_response(_list_body(kind, gone, ctx.store.resource_version))
    raise errors.MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")


def _list_body(kind: catalog.Kind, items: list[Obj], resource_version: str) -> Obj:
    return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": resource_version}, "items": items}


def _list(ctx: context.Context, kind: catalog.Kind, namespace: str | None,
          request: Request) -> Response:
    items, rv = ctx.store.list(kind, namespace,
                               label_selector=request.query_params.get("labelSelector"),
                               field_selector=request.query_params.get("fieldSelector"))
    version = responses.wants_table(request)
    if version is not None:
        return responses.json_response(table.table(
            kind.columns, items, now=ctx.now(), version=version, resource_version=rv,
            include_object=request.query_params.get("includeObject", "Metadata")))
    return responses.json_response(_list_body(kind, items, rv))


async def item(ctx: context.Context, request: Request) -> Response:
    kind, namespace = context.resolve(request), context.namespace_of(request)
    name = str(request.path_params["name"])
    sub = request.path_params.get("subresource")
    if sub is not None and (sub != "status" or not kind.has_status):
        raise errors.NotFound(f"the server could not find the requested resource "
                              f"({request.url.path})")
    status = sub == "status"
    if request.method == "GET":
        obj = ctx.store.get(kind, namespace, name)
        version = responses.wants_table(request)
        if version is not None:
            return responses.json_response(table.table(
                kind.columns, [obj], now=ctx.now(), version=version,
                resource_version=obj["metadata"]["resourceVersion"],
                include_object=request.query_params.get("includeObject", "Metadata")))
        return responses.json_response(obj)
    context.writable(kind, request)
    if request.method == "PUT":
        body = context.check_body(kind, await responses.read_object(request), namespace, name)
        dry = context.dry_run(request)
        if status:
            return responses.json_response(ctx.store.replace_status(kind, body, dry_run=dry))
        obj, warnings = ctx.validate(kind, body, request)
        return responses.json_response(ctx.store.replace(kind, obj, dry_run=dry), 200, warnings)
    if request.method == "PATCH":
        return await _patch(ctx, kind, namespace, name, status, request)
    if request.method == "DELETE":
        if status:
            raise errors.MethodNotAllowed("DELETE is not allowed on the status subresource")
        options = await _delete_options(request)
        pre = options.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise errors.BadRequest("DeleteOptions.preconditions must be an object")
        gone = ctx.store.delete(kind, namespace, name, resource_version=pre.get("resourceVersion"),
                                uid=pre.get("uid"), dry_run=context.dry_run(request, options))
        return responses.json_response(gone)
    raise errors.MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")


async def _delete_options(request: Request) -> Obj:
    if not (await request.body()).strip():
        return {}
    options = await responses.read_json(request)
    if not isinstance(options, dict):
        raise errors.BadRequest("DeleteOptions must be an object")
    return options


async def _patch(ctx: context.Context, kind: catalog.Kind, namespace: str | None, name: str,
                 status: bool, request: Request) -> Response:
    media = responses.media_type(request)
    dry = context.dry_run(request)
    if media == patch.APPLY:
        return await _apply(ctx, kind, namespace, name, status, request, dry)
    if media not in (patch.MERGE, patch.JSON_PATCH):
        raise patch.unsupported(media)
    current = ctx.store.get(kind, namespace, name)
    body = await responses.read_json(request)
    if media == patch.MERGE:
        if not isinstance(body, dict):
            raise errors.BadRequest("a merge patch must be a JSON object")
        result = patch.merge(current, body)
    else:
        result = patch.json_patch(current, body)
    if not isinstance(result.get("metadata"), dict):
        raise errors.Invalid("the patch removed metadata")
    meta = result["metadata"]
    if meta.get("name") != name or meta.get("namespace") != current["metadata"].get("namespace"):
        raise errors.Invalid(f"the patch may not change the name or namespace of {name}",
                             causes=[errors.Cause("metadata.name", "field is immutable")])
    context.check_body(kind, result, namespace, name)
    if status:
        return responses.json_response(ctx.store.replace_status(kind, result, dry_run=dry))
    obj, warnings = ctx.validate(kind, result, request)
    return responses.json_response(ctx.store.replace(kind, obj, dry_run=dry), 200, warnings)


async def _apply(ctx: context.Context, kind: catalog.Kind, namespace: str | None, name: str,
                 status: bool, request: Request, dry: bool) -> Response:
    manager = request.query_params.get("fieldManager")
    if not manager:
        raise errors.BadRequest("PATCH with application/apply-patch+yaml requires fieldManager")
    applied = context.check_body(kind, await responses.read_object(request), namespace, name)
    try:
        current: Obj | None = ctx.store.get(kind, namespace, name)
    except errors.NotFound:
        current = None
    if status:
        if current is None:
            raise errors.not_found(kind.plural, name, kind.group)
        updated = patch.merge(current, {"status": applied.get("status")})
        return responses.json_response(ctx.store.replace_status(kind, updated, dry_run=dry))
    result = patch.apply(current, applied, manager=manager,
                         force=responses.flag(request, "force"), now=ctx.now())
    obj, warnings = ctx.validate(kind, result, request)
    if current is None:
        return responses.json_response(ctx.store.create(kind, obj, dry_run=dry), 201, warnings)
    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return responses.json_response(ctx.store.replace(kind, obj, dry_run=dry), 200, warnings)
