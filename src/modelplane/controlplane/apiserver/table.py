"""`kubectl get` output: objects as a `meta.k8s.io` Table, with the catalog's columns.

kubectl asks for `Accept: application/json;as=Table;...` and prints what the server sends, so
the columns, and the human-readable ages in them, are computed here as Kubernetes computes
them for a CRD's additionalPrinterColumns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from modelplane.resources import catalog

Obj = dict[str, Any]
_STEP = re.compile(
    r"\.(?P<field>[\w-]+)|\[\?\(@\.(?P<filter>[\w.-]+)\s*==\s*(?P<value>[^)]*)\)\]"
    r"|\[(?P<quoted>'[^']*'|\"[^\"]*\")\]|\[(?P<index>\*|-?\d+)\]"
)
NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace."}


def evaluate(path: str, obj: Any) -> list[Any]:
    """A JSONPath subset: `.a.b`, `['key']`, `[*]`, `[N]`, `[?(@.f==value)]`."""
    values, pos = [obj], 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            return []
        pos = match.end()
        values = [v for value in values for v in _step(match, value)]
    return values


def _step(match: re.Match[str], value: Any) -> Iterable[Any]:
    if match["field"] is not None or match["quoted"] is not None:
        key = match["field"] if match["field"] is not None else match["quoted"][1:-1]
        if isinstance(value, dict) and key in value:
            yield value[key]
    elif match["index"] is not None and isinstance(value, list):
        if match["index"] == "*":
            yield from value
        elif -len(value) <= int(match["index"]) < len(value):
            yield value[int(match["index"])]
    elif match["filter"] is not None and isinstance(value, list):
        wanted = match["value"].strip().strip("'\"")
        for item in value:
            found = evaluate("." + match["filter"], item)
            if found and _text(found[0]) == wanted:
                yield item
    elif match["index"] == "*" and isinstance(value, dict):
        yield from value.values()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def human_duration(seconds: float) -> str:
    """Kubernetes' duration.HumanDuration, as `kubectl get` shows ages."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def cell(column: catalog.Column, obj: Obj, now: datetime) -> Any:
    found = [v for v in evaluate(column.json_path, obj) if v is not None]
    if not found:
        return None
    value = found[0]
    if column.type == "date":
        try:
            stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return "<invalid>"
        return human_duration((now - stamp).total_seconds())
    if column.type == "integer":
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return int(value) if numeric else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    if column.type == "number":
        return value if isinstance(value, int | float) else None
    return ",".join(_text(v) for v in found if not isinstance(v, dict | list))


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def table(
    columns: Iterable[catalog.Column],
    objects: Iterable[Obj],
    *,
    now: datetime,
    version: str = "v1",
    resource_version: str = "",
    include_object: str = "Metadata",
    cells: Callable[[Obj], list[Any]] | None = None,
) -> Obj:
    """A Table of `objects`; `cells` overrides the column computation (for built-in kinds)."""
    columns = list(columns)
    definitions = [NAME_COLUMN] + [
        {"name": c.name, "type": "string" if c.type == "date" else c.type, "format": "",
         "description": c.json_path, "priority": c.priority}
        for c in columns
    ]
    rows = []
    for obj in objects:
        row: Obj = {"cells": [obj.get("metadata", {}).get("name", "")] + (
            cells(obj) if cells else [cell(c, obj, now) for c in columns])}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
