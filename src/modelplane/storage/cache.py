"""The local cache of remote downloads: one directory per URI, filled once.

A URI's files live in `<cache_dir>/<first 16 hex of sha256(uri)>/`. A download fills a fresh
temporary directory beside it and is renamed into place only when complete, then a marker file
`<key>.done` records it; only a directory with its marker counts as cached. So a crash midway
leaves nothing that looks finished, and two processes fetching the same URI at once both end
with one complete copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from modelplane.storage import uri as uris


def key(uri: str) -> str:
    """The cache key of a URI: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]


class Entry:
    """The cache slot of one URI."""

    def __init__(self, cache_dir: Path, uri: str) -> None:
        self.uri = uri
        self.key = key(uri)
        self.cache_dir = cache_dir
        self.path = cache_dir / self.key
        self.marker = cache_dir / f"{self.key}.done"

    def is_complete(self) -> bool:
        return self.marker.is_file() and self.path.is_dir()

    def fill(self, download: Callable[[Path], object]) -> Path:
        """Run `download` into an empty temporary directory and publish it as this entry."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=f".{self.key}-"))
        try:
            download(staging)
            self._publish(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.path

    def _publish(self, staging: Path) -> None:
        if self.path.exists() and not self.marker.exists():
            # Left by a run that died between rename and marker: not trusted, replaced.
            shutil.rmtree(self.path, ignore_errors=True)
        try:
            staging.rename(self.path)
        except OSError:
            if not self.path.is_dir():
                raise
            # Another process published the same URI first; its copy is as good as ours.
        self._write_marker()

    def _write_marker(self) -> None:
        record = {"uri": uris.redact(self.uri), "path": str(self.path), "fetched_at": time.time()}
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{self.key}-", suffix=".done")
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.replace(tmp, self.marker)
