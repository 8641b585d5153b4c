"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and server-side apply.

Custom resources in Kubernetes refuse strategic merge patch with 415, and kubectl, which knows
that, sends merge patches for them (`apply` included, as long as the OpenAPI document does not
offer strategic merge), so strategic merge is refused here the same way.

Server-side apply keeps, per field manager, the set of fields it applied (`managedFields`,
FieldsV1). A field the manager applied before and leaves out now is removed; a field another
applier owns with a different value is a conflict unless `force`. Lists are atomic.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import jsonpatch

from modelplane.controlplane import errors

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
ACCEPTED = (JSON_PATCH, MERGE, APPLY)
Obj = dict[str, Any]
Path = tuple[str, ...]
_META_TRACKED = ("labels", "annotations", "finalizers", "ownerReferences")


def unsupported(media_type: str) -> errors.UnsupportedMediaType:
    return errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format ({media_type or 'none'}) - accepted "
        f"media types include: {', '.join(ACCEPTED)}")


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def json_patch(target: Obj, operations: Any) -> Obj:
    if not isinstance(operations, list):
        raise errors.BadRequest("a JSON patch must be a list of operations")
    try:
        result = jsonpatch.JsonPatch(operations).apply(target)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise errors.Invalid(f"the JSON patch test failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise errors.Invalid(f"the JSON patch could not be applied: {exc}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise errors.BadRequest(f"the JSON patch is malformed: {exc}") from None
    if not isinstance(result, dict):
        raise errors.Invalid("the JSON patch did not leave an object")
    return result


# server-side apply


def field_paths(obj: Obj) -> set[Path]:
    """The leaf fields an applied configuration sets (lists and empty objects are leaves)."""
    paths: set[Path] = set()
    meta = obj.get("metadata") or {}
    for key in _META_TRACKED:
        if key in meta:
            _walk(meta[key], ("metadata", key), paths, atomic=key != "labels"
                  and key != "annotations")
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            _walk(value, (key,), paths)
    return paths


def _walk(value: Any, prefix: Path, out: set[Path], *, atomic: bool = False) -> None:
    if isinstance(value, dict) and value and not atomic:
        for key, child in value.items():
            _walk(child, (*prefix, key), out)
    else:
        out.add(prefix)


def encode_fields(paths: Iterable[Path]) -> Obj:
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return root


def decode_fields(fields: Any, prefix: Path = ()) -> set[Path]:
    if not isinstance(fields, dict):  # a malformed entry someone wrote owns nothing
        return set()
    children = {k: v for k, v in fields.items() if isinstance(k, str) and k.startswith("f:")}
    if not children:
        return {prefix} if prefix else set()
    paths: set[Path] = set()
    for key, child in children.items():
        paths |= decode_fields(child, (*prefix, key[2:]))
    return paths


def _lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return False, None
        obj = obj[key]
    return True, obj


def _remove(obj: Obj, path: Path, keep: set[Path]) -> None:
    parents = [obj]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):  # prune objects this removal emptied
        prefix = path[:depth]
        if parents[depth] or any(k[:depth] == prefix for k in keep):
            break
        parents[depth - 1].pop(path[depth - 1], None)


def _overlay(target: Obj, applied: Obj) -> Obj:
    result = dict(target)
    for key, value in applied.items():
        if isinstance(value, dict) and value and isinstance(result.get(key), dict):
            result[key] = _overlay(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def apply(current: Obj | None, applied: Obj, *, manager: str, force: bool,
          now: datetime) -> Obj:
    """The object after `manager` applies `applied` to `current` (None: it does not exist)."""
    new_fields = field_paths(applied)
    listed = (current or {}).get("metadata", {}).get("managedFields")
    entries = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    mine = [e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"]
    others = [e for e in entries if e not in mine]
    previous = set().union(*(decode_fields(e.get("fieldsV1")) for e in mine))
    result = copy.deepcopy(current) if current is not None else {}
    conflicts: list[errors.Cause] = []
    kept_others = []
    for entry in others:
        owned = decode_fields(entry.get("fieldsV1"))
        clash = {p for p in owned & new_fields
                 if entry.get("operation") == "Apply" and _lookup(result, p) != _lookup(applied, p)}
        if clash and not force:
            conflicts += [errors.Cause("." + ".".join(p), f'conflict with "{entry.get("manager")}"',
                                       "FieldManagerConflict") for p in sorted(clash)]
        owned -= clash
        if owned:
            kept_others.append({**entry, "fieldsV1": encode_fields(owned)})
    if conflicts:
        raise errors.Conflict(
            f"Apply failed with {len(conflicts)} conflict(s): "
            + "; ".join(f"{c.message}: {c.field}" for c in conflicts), causes=conflicts)
    others_own = set().union(*(decode_fields(e["fieldsV1"]) for e in kept_others))
    for path in sorted(previous - new_fields - others_own, key=len, reverse=True):
        _remove(result, path, new_fields | others_own)
    meta_before = result.get("metadata") or {}
    result = _overlay(result, {k: v for k, v in applied.items() if k != "status"})
    result["metadata"] = {**meta_before, **_overlay(meta_before, applied.get("metadata") or {})}
    entry = {"manager": manager, "operation": "Apply", "apiVersion": applied.get("apiVersion"),
             "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "fieldsType": "FieldsV1",
             "fieldsV1": encode_fields(new_fields)}
    result["metadata"]["managedFields"] = [*kept_others, entry]
    return result
