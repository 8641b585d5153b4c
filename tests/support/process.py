"""`modelplane serve` as a user runs it: a subprocess, its log read line by line.

The ports are read from the server's own start-up line (it binds port 0), and readiness is
polled on /v2/health/ready, so no test guesses how long start-up takes.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
MODELPLANE = [sys.executable, "-m", "modelplane.cli"]
_BOUND = re.compile(
    r"serving REST on http://[\d.]+:(\d+) and gRPC on (?:[\d.]+:(\d+)|\(disabled\))"
)


class ServeProcess:
    def __init__(
        self, *args: str, env: dict[str, str] | None = None, command: str = "serve"
    ) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [*MODELPLANE, command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.http_port: int | None = None
        self.grpc_port: int | None = None

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, pattern: str, count: int = 1, timeout: float = 60.0) -> re.Match[str]:
        """Wait until `count` lines of output match `pattern`; return the last match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            matches = [m for line in list(self.lines) if (m := regex.search(line))]
            if len(matches) >= count:
                return matches[-1]
            left = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(left, 0.001))
            except queue.Empty:
                line = None
            if line is None and (left <= 0 or self.proc.poll() is not None):
                raise AssertionError(
                    f"{count} lines matching {pattern!r} expected; output:\n{self.output}"
                )

    def wait_bound(self) -> ServeProcess:
        match = self.wait_for_line(_BOUND.pattern)
        self.http_port = int(match.group(1))
        self.grpc_port = int(match.group(2)) if match.group(2) else None
        return self

    def wait_ready(self, timeout: float = 60.0) -> ServeProcess:
        self.wait_bound()
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited early:\n{self.output}")
                if client.get("/v2/health/ready").status_code == 200:
                    return self
                time.sleep(0.05)  # a readiness poll interval, not a guess at start-up time
        raise AssertionError(f"server not ready in {timeout}s:\n{self.output}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELPLANE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
