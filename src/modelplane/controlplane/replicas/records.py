"""The state file of each replica process, so a restarted control plane can adopt it.

One JSON file per replica under `<home>/replicas/<namespace>.<replica>.json`, replaced
atomically (written aside, fsynced, renamed) whenever the process changes: a control plane killed
at any instant leaves either the old record or the new one, never half of one. The record holds
what adoption checks (pid, the exact argv, the process's start time) and what the replica needs to
carry on without the reconciler (its whole template, so a crash before the next reconcile is
still restarted; its restart count and whether it was ever ready, which status reports).

The start time is psutil's, seconds since the epoch, a float in the JSON. Earlier versions wrote
Linux clock ticks since boot, an integer; such a record is read in today's terms, so replicas
started by an earlier version are still adopted by their start time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelplane.controlplane.replicas import local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    name: str
    namespace: str
    revision: str
    pid: int
    proc_start: float | None  # when pid started (psutil), to tell a reused pid apart
    argv: tuple[str, ...]  # as started, ports substituted
    template: dict[str, Any]  # the Template's fields, to restart it
    template_digest: str
    env_digest: str
    http_port: int
    grpc_port: int | None
    restarts: int
    started_at: str  # ISO 8601, when the replica was created
    never_ready: bool
    log_offset: int  # where this run's output starts in the log
    # Where it runs; records written before backends existed are local processes.
    backend: str = "local"
    host: str = "127.0.0.1"
    node: str = ""
    identity: dict[str, Any] = field(default_factory=dict)  # what the backend finds it by

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Record:
        raw = json.loads(data)
        raw["argv"] = tuple(raw["argv"])
        if type(raw.get("proc_start")) is int:  # clock ticks, from an earlier version
            raw["proc_start"] = local.start_time_from_clock_ticks(raw["proc_start"])
        return cls(**raw)


def directory(home: Path) -> Path:
    return home / "replicas"


def path(home: Path, namespace: str, name: str) -> Path:
    return directory(home) / f"{namespace}.{name}.json"


def write(home: Path, record: Record) -> None:
    target = path(home, record.namespace, record.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.with_name(f".{target.name}.tmp")
    with open(aside, "wb") as out:
        out.write(record.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(aside, target)


def remove(home: Path, namespace: str, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        path(home, namespace, name).unlink()


def read_all(home: Path) -> list[Record]:
    """Every readable record; an unreadable one is logged and dropped."""
    records = []
    for file in sorted(directory(home).glob("*.json")):
        try:
            records.append(Record.from_json(file.read_bytes()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("dropping unreadable replica record %s: %s", file, exc)
            with contextlib.suppress(OSError):
                file.unlink()
    return records
