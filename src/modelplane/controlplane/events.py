"""Kubernetes Events: what the control plane did and why, as `kubectl describe` shows it.

The reconciler records an event when something changes (a revision created, traffic moved, a
model that failed to load, replicas scaled, a replica restarted); the API server lists them
under /api/v1. Like Kubernetes' own events they are short-lived: kept in memory, the last
`limit` of them, and a repeat of the same event bumps its count instead of adding another.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Obj = dict[str, Any]
SOURCE = {"component": "modelplane-controller", "host": "localhost"}


class Recorder:
    def __init__(self, now: Callable[[], datetime], *, limit: int = 1000) -> None:
        self._now = now
        self._limit = limit
        self._events: OrderedDict[tuple[str, str, str, str], Obj] = OrderedDict()
        self._serial = itertools.count(1)

    def record(self, obj: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """One event about `obj`; `kind` is Normal or Warning."""
        meta = obj.get("metadata", {})
        stamp = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
        key = (str(meta.get("uid", meta.get("name"))), kind, reason, message)
        existing = self._events.pop(key, None)
        if existing is not None:
            existing["count"] += 1
            existing["lastTimestamp"] = stamp
            self._events[key] = existing
            return
        name = f"{meta.get('name', '')}.{next(self._serial):x}"
        self._events[key] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": meta.get("namespace", "default"),
                "creationTimestamp": stamp,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", "default"),
                "uid": meta.get("uid", ""),
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": SOURCE,
            "reportingComponent": SOURCE["component"],
        }
        while len(self._events) > self._limit:
            self._events.popitem(last=False)

    def list_events(self, namespace: str | None) -> list[Obj]:
        return [
            e for e in self._events.values()
            if namespace is None or e["metadata"]["namespace"] == namespace
        ]  # fmt: skip
