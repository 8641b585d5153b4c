"""`kubectl get` output: objects as a `meta.k8s.io` Table, with the catalog's columns.

kubectl asks for `Accept: application/json;as=Table;...` and prints what the server sends, so
the columns, and the human-readable ages in them, are computed here as Kubernetes computes
them for a CRD's additionalPrinterColumns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from modelplane.resources import catalog, printer

Obj = dict[str, Any]
NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace."}


def evaluate(path: str, obj: Any) -> list[Any]:
    """The values a column's JSONPath selects; none for a path outside the supported subset."""
    try:
        return printer.jsonpath(obj, path)
    except printer.JsonPathError:
        return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
        return printer.human_duration((now - stamp).total_seconds())
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
