"""The control plane's memory: every object in one SQLite table (WAL), and the changes as a watch.

One table holds the objects (kind key, namespace, name, uid, resourceVersion, JSON body) and one
counter the last resourceVersion, so a write is one transaction and a crash at any moment leaves
either the old or the new state. Watches are served from an in-memory history of recent events;
a watch from a resourceVersion older than that history is `Expired` (410), which Kubernetes
clients answer by listing again. Used from one thread (the asyncio loop of `modelplane up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import string
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from modelplane.controlplane import errors, selectors
from modelplane.resources import catalog

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, rv INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 0), rv INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (id, rv) VALUES (0, 0);
"""
HISTORY = 10_000
_SUFFIX = string.ascii_lowercase + string.digits
Obj = dict[str, Any]
Names = list[str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _key(kind: catalog.Kind) -> str:
    return f"{kind.group}/{kind.kind}"


def _spec_part(obj: Obj) -> Obj:
    """Everything generation counts: the object without metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: Obj


@dataclass(frozen=True)
class _Change:
    rv: int
    kind: str
    old: bytes | None  # None: created
    new: bytes  # for a delete, the object as it was, with the delete's resourceVersion
    deleted: bool = False


class Watch:
    """The events of one watch, in order; registered when created, so list + watch is atomic."""

    def __init__(self, store: Store, kind: catalog.Kind, namespace: str | None,
                 match: selectors.Matcher) -> None:
        self._store, self._kind, self._namespace, self._match = store, _key(kind), namespace, match
        self._queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self.closed = False

    def offer(self, change: _Change) -> None:
        if self.closed or change.kind != self._kind:
            return
        new = orjson.loads(change.new)
        now = self._selects(new)
        if change.deleted or change.old is None:
            if now:
                self._queue.put_nowait(WatchEvent("DELETED" if change.deleted else "ADDED", new))
            return
        was = self._selects(orjson.loads(change.old))
        if now:
            self._queue.put_nowait(WatchEvent("MODIFIED" if was else "ADDED", new))
        elif was:
            self._queue.put_nowait(WatchEvent("DELETED", new))

    def _selects(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if self._namespace is not None and meta.get("namespace") != self._namespace:
            return False
        return self._match(obj)

    def pending(self) -> bool:
        return not self._queue.empty()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store._watches.discard(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class Store:
    def __init__(self, path: Path, *, now: Callable[[], datetime] = _utcnow) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._now = now
        self._rv: int = self._db.execute("SELECT rv FROM counter").fetchone()[0]
        self._history: deque[_Change] = deque(maxlen=HISTORY)
        self._oldest = self._rv  # watches from any rv >= this can be replayed
        self._watches: set[Watch] = set()

    def end_watches(self) -> None:
        """End every open watch (their streams finish), e.g. before the API server stops."""
        for watch in list(self._watches):
            watch.close()

    def close(self) -> None:
        self.end_watches()
        self._db.close()

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    @property
    def watchers(self) -> int:
        """How many watches are open (the API server closes them when clients go away)."""
        return len(self._watches)

    # reads

    def get(self, kind: catalog.Kind, namespace: str | None, name: str) -> Obj:
        row = self._db.execute(
            "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?",
            (_key(kind), self._ns(kind, namespace), name),
        ).fetchone()
        if row is None:
            raise errors.not_found(kind.plural, name, kind.group)
        body: Obj = orjson.loads(row[0])
        return body

    def list(self, kind: catalog.Kind, namespace: str | None = None, *,
             label_selector: str | None = None,
             field_selector: str | None = None) -> tuple[list[Obj], str]:
        match = selectors.matcher(label_selector, field_selector)
        query, args = "SELECT body FROM objects WHERE kind=?", [_key(kind)]
        if namespace is not None and kind.namespaced:
            query, args = query + " AND namespace=?", [*args, namespace]
        rows = self._db.execute(query + " ORDER BY namespace, name", args).fetchall()
        items = [obj for (body,) in rows if match(obj := orjson.loads(body))]
        return items, self.resource_version

    def namespaces(self) -> Names:
        rows = self._db.execute("SELECT DISTINCT namespace FROM objects WHERE namespace != ''")
        return sorted({"default", *(ns for (ns,) in rows)})

    # writes

    def create(self, kind: catalog.Kind, obj: Obj, *, dry_run: bool = False) -> Obj:
        obj = orjson.loads(orjson.dumps(obj))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.Invalid("name or generateName is required", kind=kind.kind,
                                     causes=[errors.Cause("metadata.name", "Required value",
                                                          "FieldValueRequired")])
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice(_SUFFIX) for _ in range(5))
        namespace = self._ns(kind, meta.get("namespace"))
        if kind.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if self._exists(kind, namespace, meta["name"]):
            raise errors.AlreadyExists(
                f'{kind.plural}.{kind.group} "{meta["name"]}" already exists',
                kind=kind.plural, name=meta["name"], group=kind.group)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if kind.has_status:  # as Kubernetes: status is written through its subresource only
            obj.pop("status", None)
        meta.update(uid=str(uuid.uuid4()), generation=1,
                    creationTimestamp=self._now().strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta.pop("resourceVersion", None)
        if dry_run:
            return obj
        return self._write(kind, namespace, None, obj)

    def replace(self, kind: catalog.Kind, obj: Obj, *, dry_run: bool = False) -> Obj:
        current, namespace, obj = self._current_for(kind, obj)
        meta, old_meta = obj["metadata"], current["metadata"]
        for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if field in old_meta:
                meta[field] = old_meta[field]
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if kind.has_status:
            obj.pop("status", None)
            if "status" in current:
                obj["status"] = current["status"]
        if _spec_part(obj) != _spec_part(current):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if dry_run:
            meta["resourceVersion"] = old_meta["resourceVersion"]
            return obj
        return self._write(kind, namespace, current, obj)

    def replace_status(self, kind: catalog.Kind, obj: Obj, *, dry_run: bool = False) -> Obj:
        status = obj.get("status")
        if status is not None and not isinstance(status, dict):
            raise errors.Invalid(
                "status must be an object", kind=kind.kind,
                causes=[errors.Cause("status", f"Invalid value: {status!r}: must be an object",
                                     "FieldValueInvalid")])
        current, namespace, obj = self._current_for(kind, obj)
        updated = orjson.loads(orjson.dumps(current))
        if "status" in obj:
            updated["status"] = obj["status"]
        else:
            updated.pop("status", None)
        return updated if dry_run else self._write(kind, namespace, current, updated)

    def delete(self, kind: catalog.Kind, namespace: str | None, name: str, *,
               resource_version: str | None = None, uid: str | None = None,
               dry_run: bool = False) -> Obj:
        current = self.get(kind, namespace, name)
        meta = current["metadata"]
        if resource_version and resource_version != meta.get("resourceVersion"):
            raise self._conflict(kind, name, "the resourceVersion in the precondition")
        if uid and uid != meta.get("uid"):
            raise self._conflict(kind, name, "the UID in the precondition")
        if dry_run:
            return current
        ns = self._ns(kind, namespace)
        with self._transaction() as rv:
            self._db.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?",
                             (_key(kind), ns, name))
        gone = current
        meta["resourceVersion"] = str(rv)
        self._publish(_Change(rv, _key(kind), None, orjson.dumps(gone), deleted=True))
        return gone

    def watch(self, kind: catalog.Kind, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None) -> Watch:
        """Events after `resource_version` ("0" or None: from now); too old: Expired."""
        watch = Watch(self, kind, namespace if kind.namespaced else None,
                      selectors.matcher(label_selector, field_selector))
        if resource_version not in (None, "", "0"):
            try:
                since = int(str(resource_version))
            except ValueError:
                raise errors.BadRequest(f"invalid resourceVersion {resource_version!r}") from None
            if since < self._oldest:
                raise errors.Expired(f"too old resource version: {since} ({self._oldest})")
            for change in self._history:
                if change.rv > since:
                    watch.offer(change)
        self._watches.add(watch)
        return watch

    # internals

    def _ns(self, kind: catalog.Kind, namespace: str | None) -> str:
        return (namespace or "default") if kind.namespaced else ""

    def _exists(self, kind: catalog.Kind, namespace: str, name: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM objects WHERE kind=? AND namespace=? AND name=?",
            (_key(kind), namespace, name)).fetchone() is not None

    def _conflict(self, kind: catalog.Kind, name: str, what: str) -> errors.Conflict:
        return errors.Conflict(
            f'Operation cannot be fulfilled on {kind.plural}.{kind.group} "{name}": {what} '
            "does not match the object's; the object has been modified; please apply your "
            "changes to the latest version and try again",
            kind=kind.plural, name=name, group=kind.group)

    def _current_for(self, kind: catalog.Kind, obj: Obj) -> tuple[Obj, str, Obj]:
        obj = orjson.loads(orjson.dumps(obj))
        meta = obj.setdefault("metadata", {})
        namespace = self._ns(kind, meta.get("namespace"))
        current = self.get(kind, namespace, str(meta.get("name", "")))
        wanted = meta.get("resourceVersion")
        if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
            raise self._conflict(kind, meta["name"], "the resourceVersion")
        if kind.namespaced:
            meta["namespace"] = namespace
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        return current, namespace, obj

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[int]:
        """One write: the counter and the row change in the same transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("UPDATE counter SET rv=?", (self._rv + 1,))
            yield self._rv + 1
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._rv += 1

    def _write(self, kind: catalog.Kind, namespace: str, old: Obj | None, obj: Obj) -> Obj:
        meta = obj["metadata"]
        with self._transaction() as rv:
            meta["resourceVersion"] = str(rv)
            self._db.execute(
                "INSERT OR REPLACE INTO objects (kind, namespace, name, uid, rv, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_key(kind), namespace, meta["name"], meta["uid"], rv, orjson.dumps(obj)))
        self._publish(
            _Change(rv, _key(kind), orjson.dumps(old) if old else None, orjson.dumps(obj)))
        return obj

    def _publish(self, change: _Change) -> None:
        if len(self._history) == self._history.maxlen:
            self._oldest = self._history[0].rv
        self._history.append(change)
        for watch in list(self._watches):
            watch.offer(change)

