"""The HTTP servers behind the storage fixtures, importable for their types.

`FileServer` serves a directory and counts GETs. `Blob` is one file behind a server that follows
a script, one step per GET: cut the connection after some bytes, or answer an error status, so
tests can break a download exactly where they want and watch how it comes back.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler
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


@dataclass(frozen=True)
class Cut:
    """Send the headers of the whole answer, then only `after` bytes of its body, then close."""

    after: int


@dataclass(frozen=True)
class Status:
    """Answer `code` with no body (and `Retry-After` when given)."""

    code: int
    retry_after: int | None = None


@dataclass
class Blob:
    """One file served at any path, and the record of every GET of it.

    `etag` is sent and checked against `If-Range`; with `ranges` the server advertises
    `Accept-Ranges: bytes` and answers `Range: bytes=N-` with a 206, without it the server
    ignores `Range` and sends the whole file.
    """

    data: bytes
    etag: str | None = '"v1"'
    ranges: bool = True
    script: list[Cut | Status] = field(default_factory=list)
    url: str = ""
    #: The headers of each GET, names in lower case.
    requests: list[dict[str, str]] = field(default_factory=list)
    #: Body bytes written to the wire over all answers.
    sent: int = 0

    def replace(self, data: bytes, etag: str) -> None:
        self.data, self.etag = data, etag


class BlobHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    blob: Blob

    def do_GET(self) -> None:
        blob = self.blob
        asked = {name.lower(): value for name, value in self.headers.items()}
        blob.requests.append(asked)
        step = blob.script.pop(0) if blob.script else None
        if isinstance(step, Status):
            self.send_response(step.code)
            if step.retry_after is not None:
                self.send_header("Retry-After", str(step.retry_after))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, start = blob.data, 0
        wanted = asked.get("range", "")
        if (
            blob.ranges
            and wanted.startswith("bytes=")
            and wanted.endswith("-")
            and asked.get("if-range", blob.etag) == blob.etag
        ):
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if blob.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if blob.etag is not None:
            self.send_header("ETag", blob.etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if isinstance(step, Cut):
            body = body[: step.after]
            self.close_connection = True
        self.wfile.write(body)
        blob.sent += len(body)

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
