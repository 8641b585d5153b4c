"""/openapi/v3: one OpenAPI document per group-version, as kubectl reads them.

kubectl `apply` looks here for two things: whether PATCH of the kind takes the `fieldValidation`
query parameter (then it leaves validation to the server and sends `fieldValidation=Strict`),
and whether PATCH accepts strategic merge patch (it is not offered, so kubectl sends JSON merge
patches, as it does for any custom resource).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from modelplane.resources import catalog

Obj = dict[str, Any]
Schema = Callable[[catalog.Kind], Obj]
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml")


def _schema_name(kind: catalog.Kind) -> str:
    reversed_group = ".".join(reversed(kind.group.split(".")))
    return f"{reversed_group}.{kind.version}.{kind.kind}"


def _param(name: str, where: str = "query", required: bool = False) -> Obj:
    return {"name": name, "in": where, "required": required, "schema": {"type": "string"}}


def _operation(kind: catalog.Kind, action: str, body: tuple[str, ...] = (),
               params: tuple[str, ...] = ()) -> Obj:
    ref = {"$ref": f"#/components/schemas/{_schema_name(kind)}"}
    operation: Obj = {
        "operationId": f"{action}{kind.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": kind.group, "version": kind.version,
                                            "kind": kind.kind},
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": ref}}}},
    }
    if body:
        operation["requestBody"] = {"content": {t: {"schema": ref} for t in body},
                                    "required": True}
    return operation


def _paths(kind: catalog.Kind) -> Obj:
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    base = f"/apis/{kind.group}/{kind.version}{scope}/{kind.plural}"
    path_params = [_param("namespace", "path", True)] if kind.namespaced else []
    writes = ("dryRun", "fieldManager", "fieldValidation")
    item: Obj = {"parameters": [*path_params, _param("name", "path", True)],
                 "get": _operation(kind, "get")}
    collection: Obj = {"parameters": path_params,
                       "get": _operation(kind, "list", params=("labelSelector", "fieldSelector",
                                                               "watch", "resourceVersion"))}
    if kind.user_writable:
        item["put"] = _operation(kind, "put", ("application/json",), writes)
        item["patch"] = _operation(kind, "patch", _PATCH_TYPES, (*writes, "force"))
        item["delete"] = _operation(kind, "delete", params=("dryRun",))
        collection["post"] = _operation(kind, "post", ("application/json",), writes)
    paths = {base: collection, f"{base}/{{name}}": item}
    if kind.has_status:
        paths[f"{base}/{{name}}/status"] = {**item, "get": _operation(kind, "get")}
    return paths


def documents(schema: Schema) -> dict[str, Obj]:
    """Each served group-version's OpenAPI v3 document, keyed `apis/<group>/<version>`."""
    docs: dict[str, Obj] = {}
    for kind in catalog.KINDS:
        key = f"apis/{kind.group}/{kind.version}"
        doc = docs.setdefault(key, {
            "openapi": "3.0.0",
            "info": {"title": "modelplane", "version": kind.group_version},
            "paths": {}, "components": {"schemas": {}},
        })
        doc["paths"].update(_paths(kind))
        object_schema = dict(schema(kind))
        object_schema.setdefault("x-kubernetes-group-version-kind", [
            {"group": kind.group, "version": kind.version, "kind": kind.kind}])
        doc["components"]["schemas"][_schema_name(kind)] = object_schema
    return docs


def index(docs: dict[str, Obj]) -> Obj:
    return {"paths": {
        key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest(doc)}"}
        for key, doc in docs.items()
    }}


def digest(doc: Obj) -> str:
    return hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:64]
