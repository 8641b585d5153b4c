"""Label and field selectors, parsed and matched as the Kubernetes API server does.

Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a` (exists), `!a`.
Field selectors: `metadata.name` and `metadata.namespace` with `=`, `==` and `!=`, the ones
kubectl sends (`delete` and `wait` watch one object through `metadata.name=...`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelplane.controlplane import errors

_KEY = re.compile(r"^([a-z0-9A-Z]([\w.-]*[a-zA-Z0-9])?/)?[a-zA-Z0-9]([\w.-]*[a-zA-Z0-9])?$")
_VALUE = re.compile(r"^([a-zA-Z0-9]([\w.-]*[a-zA-Z0-9])?)?$")
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[^\s!=(),]+)\s*"
    r"(?:(?P<op>==|=|!=|in(?=[\s(])|notin(?=[\s(]))\s*(?P<value>\([^)]*\)|[^\s,()]*))?\s*$"
)
FIELDS = ("metadata.name", "metadata.namespace")

Matcher = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # "!=", "notin"


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_labels(selector: str) -> list[Requirement]:
    """Parse a label selector; a malformed one is a BadRequest as the API server answers."""
    requirements = []
    for part in _split(selector):
        match = _REQUIREMENT.match(part)
        if match is None:
            raise errors.BadRequest(f"unable to parse requirement: {part.strip()!r}")
        key, op, raw = match["key"], (match["op"] or "").strip(), match["value"]
        if not _KEY.match(key):
            raise errors.BadRequest(f"invalid label key {key!r} in selector {selector!r}")
        if match["neg"]:
            if op:
                raise errors.BadRequest(f"unable to parse requirement: {part.strip()!r}")
            requirements.append(Requirement(key, "!"))
            continue
        if not op:
            requirements.append(Requirement(key, "exists"))
            continue
        if op in ("in", "notin"):
            if not (raw.startswith("(") and raw.endswith(")")):
                raise errors.BadRequest(f"{op} needs a parenthesised list in {part.strip()!r}")
            values = [v.strip() for v in raw[1:-1].split(",")]
        else:
            if raw.startswith("("):
                raise errors.BadRequest(f"unable to parse requirement: {part.strip()!r}")
            values = [raw]
        for value in values:
            if not _VALUE.match(value):
                raise errors.BadRequest(f"invalid label value {value!r} in selector {selector!r}")
        normalized = {"==": "=", "=": "=", "!=": "!="}.get(op, op)
        requirements.append(Requirement(key, normalized, frozenset(values)))
    return requirements


def parse_fields(selector: str) -> list[tuple[str, bool, str]]:
    """Parse a field selector into (field, equal, value) terms."""
    terms = []
    for part in _split(selector):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*([^,]*?)\s*$", part)
        if match is None:
            raise errors.BadRequest(f"invalid field selector: {part.strip()!r}")
        field, op, value = match.groups()
        if field not in FIELDS:
            raise errors.BadRequest(
                f'field label not supported: "{field}" (supported: {", ".join(FIELDS)})'
            )
        terms.append((field, op != "!=", value))
    return terms


def matcher(label_selector: str | None, field_selector: str | None) -> Matcher:
    """One predicate over whole objects for both selectors; errors surface at parse time."""
    labels = parse_labels(label_selector) if label_selector else []
    fields = parse_fields(field_selector) if field_selector else []

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        object_labels = meta.get("labels") or {}
        if not all(r.matches(object_labels) for r in labels):
            return False
        for field, equal, value in fields:
            actual = meta.get(field.split(".", 1)[1]) or ""
            if (actual == value) != equal:
                return False
        return True

    return matches
