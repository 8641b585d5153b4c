"""Status conditions as Kubernetes writes them, with stable `lastTransitionTime`s.

A condition's time changes only when its status does, so a reconcile pass that changes nothing
writes nothing, and `kubectl describe` shows when a state began.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Condition:
    type: str
    ok: bool
    reason: str = ""
    message: str = ""

    @property
    def status(self) -> str:
        return "True" if self.ok else "False"


def merge(previous: Sequence[Mapping[str, Any]], wanted: Iterable[Condition], now: str) -> list[
    dict[str, Any]
]:
    """The conditions to store: `wanted`, keeping each unchanged condition's transition time."""
    before = {c.get("type"): c for c in previous}
    merged: list[dict[str, Any]] = []
    for cond in wanted:
        old = before.get(cond.type)
        changed = old is None or old.get("status") != cond.status
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": cond.status,
            "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime"),
        }
        if cond.reason:
            entry["reason"] = cond.reason
        if cond.message:
            entry["message"] = cond.message
        merged.append(entry)
    return merged


def is_true(conditions: Sequence[Mapping[str, Any]], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)
