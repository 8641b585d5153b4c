"""A tiny stand-in for `modelplane serve`, for the replica manager's tests (stdlib only, fast).

    python replica_app.py --port PORT

GET /v2/health/ready answers 200 once REPLICA_READY_DELAY seconds (default 0) have passed
since start, 503 before; GET / answers {"pid", "port", "marker"} (marker from REPLICA_MARKER);
GET /exit?code=N&message=TEXT writes TEXT to stderr and exits with N. REPLICA_EXIT_AT_START=
"N:TEXT" writes TEXT and exits with N at once (a model that cannot load);
REPLICA_IGNORE_SIGTERM=1 makes it ignore SIGTERM (a replica that will not stop).
REPLICA_ALLOCATE_MB=N holds N MiB at start and never serves (a model too big for its memory
limit); GET /allocate?mb=N holds N MiB more while serving; GET /env answers the process's cpu
affinity and its CUDA_VISIBLE_DEVICES and thread variables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    port = parser.parse_args().port
    if exit_at_start := os.environ.get("REPLICA_EXIT_AT_START"):
        code, _, message = exit_at_start.partition(":")
        print(message, file=sys.stderr, flush=True)
        sys.exit(int(code))
    held = []  # memory a test asked for, kept until the process ends
    if allocate := os.environ.get("REPLICA_ALLOCATE_MB"):
        held.append(b"x" * (int(allocate) << 20))
        print(f"holding {allocate} MiB", flush=True)
        threading.Event().wait()
    if os.environ.get("REPLICA_IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready_at = time.monotonic() + float(os.environ.get("REPLICA_READY_DELAY", "0"))
    marker = os.environ.get("REPLICA_MARKER", "")
    sick = []  # non-empty: readiness fails, as a hung server's would

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/v2/health/ready":
                self._answer(200 if time.monotonic() >= ready_at and not sick else 503, {})
            elif url.path in ("/sick", "/well"):
                sick[:] = [True] if url.path == "/sick" else []
                self._answer(200, {})
            elif url.path == "/":
                self._answer(200, {"pid": os.getpid(), "port": port, "marker": marker})
            elif url.path == "/allocate":
                held.append(b"x" * (int(parse_qs(url.query)["mb"][0]) << 20))
                self._answer(200, {})
            elif url.path == "/env":
                names = ("CUDA_VISIBLE_DEVICES", "MODELPLANE_THREADS", "OMP_NUM_THREADS")
                affinity = sorted(os.sched_getaffinity(0))
                self._answer(200, {"affinity": affinity, **{n: os.environ.get(n) for n in names}})
            elif url.path == "/exit":
                query = parse_qs(url.query)
                print(query.get("message", [""])[0], file=sys.stderr, flush=True)
                os._exit(int(query.get("code", ["1"])[0]))
            else:
                self._answer(404, {})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
