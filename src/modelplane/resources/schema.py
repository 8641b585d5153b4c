"""The OpenAPI v3 schema of each kind, for `/openapi/v3` (what `kubectl apply` and `explain` read).

The schema is derived from the same pydantic models `validation` parses with, so the document and
the checks cannot drift apart. pydantic writes JSON Schema; this module rewrites it into the
structural form Kubernetes serves for custom resources: every `$ref` inlined, optional fields as
plain properties (not `anyOf` with null), free-form maps marked
`x-kubernetes-preserve-unknown-fields`, quantities as `x-kubernetes-int-or-string`, keys a model
carries without modelling (a pod's `affinity`) declared as free-form, and the kind's
`x-kubernetes-group-version-kind`.
"""

from __future__ import annotations

from typing import Any

from modelplane.resources import catalog, inference_graph, inference_service, serving_runtime

_MODELS: dict[str, Any] = {
    "InferenceService": inference_service.InferenceService,
    "InferenceGraph": inference_graph.InferenceGraph,
    "ServingRuntime": serving_runtime.ServingRuntime,
    "ClusterServingRuntime": serving_runtime.ServingRuntime,
}
_FREE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_KEEP = ("description", "default", "minimum", "maximum", "enum", "format")


def openapi_schema(kind: catalog.Kind) -> dict[str, Any]:
    """The whole object's schema (apiVersion, kind, metadata, spec, status) for `kind`."""
    model = _MODELS.get(kind.kind)
    if model is None:  # a kind only the control plane writes: its spec is its own business
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {"spec": dict(_FREE), "status": dict(_FREE)},
        }
    else:
        raw = model.model_json_schema(by_alias=True)
        schema = _convert(raw, raw.get("$defs", {}))
    properties = schema["properties"]
    properties["apiVersion"] = {"type": "string", "description": "serving API version"}
    properties["kind"] = {"type": "string", "enum": [kind.kind]}
    properties["metadata"] = {"type": "object"}
    schema["required"] = [r for r in schema.get("required", []) if r not in ("apiVersion", "kind")]
    if not schema["required"]:
        del schema["required"]
    schema["description"] = f"{kind.kind} ({kind.api_version})"
    schema["x-kubernetes-group-version-kind"] = [
        {"group": kind.group, "version": kind.version, "kind": kind.kind}
    ]
    return schema


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs) | _kept(node)
    if "anyOf" in node:
        return _union([b for b in node["anyOf"] if b.get("type") != "null"], defs) | _kept(node)
    if "const" in node:
        return {"type": "string", "enum": [node["const"]]}
    kind = node.get("type")
    out: dict[str, Any] = _kept(node)
    if kind == "array":
        out |= {"type": "array", "items": _convert(node.get("items", {}), defs)}
    elif kind == "object" and "properties" in node:
        props = {key: _convert(value, defs) for key, value in node["properties"].items()}
        for key in node.get("x-carried-keys", ()):
            props.setdefault(key, {"x-kubernetes-preserve-unknown-fields": True})
        out |= {"type": "object", "properties": props}
        if node.get("required"):
            out["required"] = list(node["required"])
    elif kind == "object":
        values = node.get("additionalProperties", True)
        if isinstance(values, dict) and values:
            out |= {"type": "object", "additionalProperties": _convert(values, defs)}
        else:
            out |= _FREE
    elif kind is not None:
        out["type"] = kind
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _union(branches: list[dict[str, Any]], defs: dict[str, Any]) -> dict[str, Any]:
    if len(branches) == 1:
        return _convert(branches[0], defs)
    types = {b.get("type") for b in branches}
    if types <= {"string", "integer", "number"} and "string" in types:
        return {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
    return {"x-kubernetes-preserve-unknown-fields": True}


def _kept(node: dict[str, Any]) -> dict[str, Any]:
    return {key: node[key] for key in _KEEP if key in node and node[key] is not None}
