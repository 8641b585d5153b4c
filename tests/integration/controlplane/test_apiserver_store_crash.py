"""The store survives kill -9 of the process that wrote it: every committed write is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from modelplane.controlplane import store
from modelplane.resources import catalog

WRITER = """
import sys
from pathlib import Path
from modelplane.controlplane import store
from modelplane.resources import catalog
db = store.Store(Path(sys.argv[1]))
kind = catalog.INFERENCE_SERVICE
for i in range(50):
    db.create(kind, {"metadata": {"name": f"isvc-{i}"}, "spec": {"i": i}})
obj = db.get(kind, "default", "isvc-7")
obj["status"] = {"url": "http://isvc-7"}
db.replace_status(kind, obj)
print("written", db.resource_version, flush=True)
sys.stdin.read()  # hold the database open until killed
"""


def test_kill_9_loses_no_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    root = Path(__file__).resolve().parents[3]
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root / "src")})
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.startswith("written"), line
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    reopened = store.Store(path)
    items, rv = reopened.list(catalog.INFERENCE_SERVICE)
    assert len(items) == 50
    assert rv == line.split()[1] == "51"
    assert reopened.get(catalog.INFERENCE_SERVICE, "default", "isvc-7")["status"] == {
        "url": "http://isvc-7"}
    created = reopened.create(catalog.INFERENCE_SERVICE, {"metadata": {"name": "new"}, "spec": {}})
    assert created["metadata"]["resourceVersion"] == "52"
