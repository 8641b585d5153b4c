"""What the CLI prints, in kubectl's forms: tables, `-o yaml|json|name|wide`, ages, JSONPath cells.

Tables are plain text aligned with three spaces, as kubectl prints them, so output pipes into
`awk` and `grep`. Columns come from the catalogue (`Kind.columns`), evaluated with the small
JSONPath subset that Kubernetes' printer columns use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from modelplane.resources import catalog, printer


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def columns(kind: catalog.Kind, wide: bool) -> list[catalog.Column]:
    return [c for c in kind.columns if wide or c.priority == 0]


def row(
    kind: catalog.Kind, obj: dict[str, Any], now: datetime, *, wide: bool, all_namespaces: bool
) -> list[str]:
    meta = obj.get("metadata", {})
    cells = [str(meta.get("namespace", ""))] if all_namespaces and kind.namespaced else []
    cells.append(str(meta.get("name", "")))
    for column in columns(kind, wide):
        found = printer.jsonpath(obj, column.json_path)
        if column.type == "date":
            cells.append(printer.age(found[0] if found else None, now))
        else:
            cells.append(",".join(cell(v) for v in found))
    return cells


def table(
    kind: catalog.Kind,
    items: Sequence[dict[str, Any]],
    now: datetime,
    *,
    wide: bool = False,
    all_namespaces: bool = False,
) -> str:
    """kubectl's table: upper-case headers, columns padded and separated by three spaces."""
    header = ["NAMESPACE"] if all_namespaces and kind.namespaced else []
    header += ["NAME", *(c.name.upper() for c in columns(kind, wide))]
    rows = [row(kind, o, now, wide=wide, all_namespaces=all_namespaces) for o in items]
    return aligned([header, *rows])


def aligned(rows: Sequence[Sequence[str]], indent: str = "") -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for cells in rows:
        padded = [c.ljust(w) for c, w in zip(cells, widths, strict=True)]
        lines.append(indent + "   ".join(padded).rstrip())
    return "\n".join(lines)


def qualified(kind: catalog.Kind) -> str:
    """`inferenceservice.serving.kserve.io`, the name kubectl prints before `/name`."""
    return f"{kind.singular}.{kind.group}" if kind.group else kind.singular


def names(kind: catalog.Kind, items: Iterable[dict[str, Any]]) -> str:
    return "\n".join(f"{qualified(kind)}/{o['metadata']['name']}" for o in items)


def as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    listed = {"apiVersion": "v1", "items": list(items), "kind": "List"}
    return {**listed, "metadata": {"resourceVersion": ""}}


def dump(document: Any, output: str) -> str:
    """`-o json` (four-space indent, sorted keys, as kubectl) or `-o yaml`."""
    if output == "json":
        return json.dumps(document, indent=4, sort_keys=True, ensure_ascii=False)
    import yaml

    return str(yaml.safe_dump(document, sort_keys=True, default_flow_style=False)).rstrip("\n")


_UPPER_WORDS = {
    "api",
    "cpu",
    "dns",
    "http",
    "https",
    "id",
    "ip",
    "json",
    "tls",
    "uid",
    "uri",
    "url",
}
_HIDDEN_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}


def label(key: str) -> str:
    """kubectl's describe label for a field: `storageUri` -> `Storage URI`, `uid` -> `UID`."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", key) or [key]
    return " ".join(
        w.upper() if w.lower() in _UPPER_WORDS else w[:1].upper() + w[1:] for w in words
    )


def _tree(value: dict[str, Any], depth: int) -> list[str]:
    pad, lines = "  " * depth, []
    flat = [k for k, v in value.items() if not isinstance(v, dict | list) or not v]
    width = max((len(label(k)) for k in flat), default=0) + 3
    for key in sorted(value):
        item = value[key]
        if isinstance(item, dict) and item:
            lines += [f"{pad}{label(key)}:", *_tree(item, depth + 1)]
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{label(key)}:")
            for element in item:
                if isinstance(element, dict):
                    lines += _tree(element, depth + 1)
                else:
                    lines.append(f"{pad}  {cell(element)}")
        else:
            lines.append(f"{pad}{(label(key) + ':').ljust(width)}{cell(item)}".rstrip())
    return lines


def _pairs(mapping: Any, sep: str, width: int) -> str:
    shown = {k: v for k, v in (mapping or {}).items() if k not in _HIDDEN_ANNOTATIONS}
    if not shown:
        return "<none>"
    return ("\n" + " " * width).join(f"{k}{sep}{v}" for k, v in sorted(shown.items()))


def describe(
    kind: catalog.Kind,
    obj: dict[str, Any],
    now: datetime,
    revisions: Sequence[dict[str, Any]] | None = None,
    events: Sequence[dict[str, Any]] | None = None,
) -> str:
    """A kubectl-describe view: identity, metadata, spec, status with conditions and traffic
    as tables, and (for an InferenceService) its revisions."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    lines = [f"{'Name:':<14}{meta.pop('name', '')}"]
    if kind.namespaced:
        lines.append(f"{'Namespace:':<14}{meta.pop('namespace', '')}")
    lines.append(f"{'Labels:':<14}{_pairs(meta.pop('labels', None), '=', 14)}")
    lines.append(f"{'Annotations:':<14}{_pairs(meta.pop('annotations', None), ': ', 14)}")
    lines += [f"{'API Version:':<14}{obj.get('apiVersion', '')}", f"{'Kind:':<14}{obj.get('kind')}"]
    lines += ["Metadata:", *_tree(meta, 1)]
    for key in sorted(set(obj) - {"apiVersion", "kind", "metadata", "status"}):
        section = obj[key]
        lines += [f"{label(key)}:", *(_tree(section, 1) if isinstance(section, dict) else [])]
    status = json.loads(json.dumps(obj.get("status") or {}))
    conditions = status.pop("conditions", None)
    predictor = status.get("components", {}).get("predictor", {})
    traffic = predictor.pop("traffic", None) if isinstance(predictor, dict) else None
    if status or conditions or traffic:
        lines += ["Status:", *_tree(status, 1)]
    if conditions:
        header = ["Type", "Status", "Reason", "Message", "Last Transition Time"]
        keys = ["type", "status", "reason", "message", "lastTransitionTime"]
        rows = [[cell(c.get(k)) for k in keys] for c in conditions]
        lines += ["  Conditions:", aligned([header, *rows], indent="    ")]
    if traffic:
        keys = ["revisionName", "tag", "latestRevision", "percent"]
        rows = [[cell(t.get(k)) for k in keys] for t in traffic]
        lines += ["  Traffic:", aligned([["Revision", "Tag", "Latest", "Percent"], *rows], "    ")]
    if revisions is not None:
        shown = "\n" + _indent(table(catalog.REVISION, revisions, now)) if revisions else "  <none>"
        lines.append("Revisions:" + shown)
    if events:
        header = ["Type", "Reason", "Age", "From", "Message"]
        rows = [
            [cell(e.get("type")), cell(e.get("reason")),
             printer.age(e.get("lastTimestamp"), now)
             + (f" (x{e['count']})" if e.get("count", 1) > 1 else ""),
             cell(e.get("source", {}).get("component")), cell(e.get("message"))]
            for e in events
        ]  # fmt: skip
        lines += ["Events:", aligned([header, *rows], indent="  ")]
    else:
        lines.append(f"{'Events:':<14}<none>")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
