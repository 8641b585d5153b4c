"""The counting HTTP file server behind the `file_server` fixture, importable for its type."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any


@dataclass
class FileServer:
    """An HTTP server over `root`, counting GETs per path."""

    root: Path
    url: str
    hits: Counter[str] = field(default_factory=Counter)

    def total(self) -> int:
        return sum(self.hits.values())


class Handler(SimpleHTTPRequestHandler):
    server_state: FileServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server_state.hits[path] += 1
        # /status/<code>/... answers that status; /redirect/<path> sends a 302 to /<path>.
        if path.startswith("/status/"):
            self.send_error(int(path.split("/")[2]))
            return
        if path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", path[len("/redirect") :])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def model_tree(root: Path) -> None:
    (root / "model.joblib").write_bytes(b"joblib-bytes" * 1000)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("model/weights.bin", b"w" * 5000), ("model/config.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "model.tar.gz").write_bytes(buf.getvalue())
    (root / "model.tgz").write_bytes(buf.getvalue())
    with zipfile.ZipFile(root / "model.zip", "w") as zf:
        zf.writestr("model/weights.bin", b"w" * 5000)
        zf.writestr("model/config.json", b"{}")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (root / "evil.tar.gz").write_bytes(evil.getvalue())
