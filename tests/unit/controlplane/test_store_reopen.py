"""A store reopened without a clean shutdown has every committed write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from modelplane.controlplane import store
from modelplane.resources import catalog

ISVC = catalog.INFERENCE_SERVICE


def test_reopen_without_close_keeps_writes(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = store.Store(path)
    first.create(ISVC, {"metadata": {"name": "a"}, "spec": {"x": 1}})
    first.replace_status(ISVC, {"metadata": {"name": "a"}, "status": {"url": "u"}})
    # `first` is never closed: its WAL is not checkpointed, as after kill -9.
    second = store.Store(path)
    assert second.get(ISVC, "default", "a")["status"] == {"url": "u"}
    assert second.resource_version == "2"
    created = second.create(ISVC, {"metadata": {"name": "b"}, "spec": {}})
    assert created["metadata"]["resourceVersion"] == "3"


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store.Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
