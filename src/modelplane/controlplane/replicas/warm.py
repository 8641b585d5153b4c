"""Warm starts: replicas of `modelplane serve` forked from a template that has its imports done.

A replica started as a new process pays Python's start and the imports of the server and its
framework (about 1.5 s for scikit-learn on a quiet core, several seconds on a busy one) before
it can load the model; that is most of a scale-from-zero. The local backend asks `Templates`
first: one template process per model format (`modelplane template`, see `server.template`),
started on the first replica of that format, forks each later replica in a few milliseconds.
Until the template is ready, or for a command it cannot run (a custom container, `--workers`,
a format whose framework does not fork cleanly: `runtimes.preload`), it says no and the
backend spawns the replica as before.

A forked replica is the template's child, not ours: its exit is read from the template's
answer on the replica's connection (`{"returncode": R}`), and otherwise from the process
table, as for an adopted replica. A template dies with the control plane (it watches its
parent); the replicas it forked live on in their own sessions and are adopted by pid, like
any other.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from modelplane.controlplane.replicas import signals
from modelplane.runtimes import preload

log = logging.getLogger(__name__)

#: The command line of a `modelplane serve` replica, as the control plane writes it.
SERVE = (sys.executable, "-m", "modelplane.cli", "serve")
_ANSWER_TIMEOUT = 5.0
#: Environment read at start-up or import (the interpreter, OpenMP / BLAS thread pools, the
#: dynamic linker, the allocator): a fork keeps the template's.
_READ_AT_IMPORT = ("PYTHON", "OMP_", "OPENBLAS_", "MKL_", "KMP_", "LD_", "MALLOC_")
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


class Forked:
    """A replica forked by a template: its exit comes from the template's report."""

    def __init__(self, pid: int, conn: socket.socket) -> None:
        self._pid = pid
        self._conn = conn
        self._conn.setblocking(False)
        self._buffer = b""
        self._returncode: int | None = None
        self._reported = True  # until the template's connection closes with no word
        try:
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._process = None

    @property
    def pid(self) -> int:
        return self._pid

    def exited(self) -> bool:
        if self._returncode is not None:
            return True
        self._read_report()
        if self._returncode is not None:
            return True
        if self._reported:
            return False  # the template is there and has not seen it end
        return not self._running()

    def describe_exit(self) -> str:
        code = self._returncode
        if code is None:
            return "running" if self._running() else "exited (its template is gone)"
        return signals.describe(code)

    def returncode(self) -> int | None:
        """Popen's convention; None while it runs or when its template went without a word."""
        self.exited()
        return self._returncode

    def send(self, sig: signal.Signals) -> None:
        if self._returncode is not None:
            return
        signals.group(self._pid, sig)

    def _read_report(self) -> None:
        try:
            data = self._conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the template is gone: only the process table can tell now
            self._reported = False
            self._conn.close()
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            with contextlib.suppress(ValueError, TypeError):
                self._returncode = int(json.loads(line)["returncode"])

    def _running(self) -> bool:
        if self._process is None:
            return False
        try:
            return self._process.is_running() and self._process.status() not in _GONE
        except psutil.Error:
            return False


class _Template:
    def __init__(self, model_format: str, socket_path: Path, log_path: Path) -> None:
        self.model_format = model_format
        self.socket_path = socket_path
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                [*SERVE[:-1], "template", "--socket", str(socket_path),
                 "--model-format", model_format, "--parent", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> Forked | None:
        if not self.socket_path.exists():
            return None  # still importing
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(_ANSWER_TIMEOUT)
            conn.connect(str(self.socket_path))
            request = {"args": list(args), "env": dict(env), "log": str(log_path)}
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    raise OSError("the template closed the connection")
                answer += chunk
            pid = int(json.loads(answer)["pid"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            conn.close()
            log.warning("template for %s could not fork a replica: %s", self.model_format, exc)
            return None
        return Forked(pid, conn)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket_path.unlink(missing_ok=True)


class Templates:
    """The warm templates of one control plane, one per model format, started on first use."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._templates: dict[str, _Template] = {}

    def fork(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        own_env: Mapping[str, str] | None = None,
    ) -> Forked | None:
        """The replica forked from its format's template, or None: then spawn it.

        `env` is the replica's whole environment; `own_env` what its container sets. A variable
        that Python or a thread pool reads when a module is imported (the template imported
        them already) cannot take effect in a fork, so such a replica spawns.
        """
        args = serve_args(argv)
        if args is None:
            return None
        model_format = option(args, "--model-format") or ""
        if not preload.warmable(model_format) or option(args, "--workers") not in (None, "1"):
            return None
        if any(key.startswith(_READ_AT_IMPORT) for key in own_env or {}):
            return None
        model_format = model_format.lower()
        template = self._templates.get(model_format)
        if template is None or not template.alive():
            if template is not None:
                log.warning(
                    "template for %s exited (%s); starting another",
                    model_format or "any format", template.process.returncode,
                )
            self._directory.mkdir(parents=True, exist_ok=True)
            name = model_format or "any"
            self._templates[model_format] = _Template(
                model_format, self._directory / f"{name}.sock", self._directory / f"{name}.log"
            )
            return None  # this replica spawns; the next one forks
        return template.fork(args, env, log_path)

    def close(self) -> None:
        for template in self._templates.values():
            template.stop()
        self._templates.clear()


def serve_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments after `modelplane serve` when argv runs this installation's server."""
    if tuple(argv[: len(SERVE)]) != SERVE:
        return None
    return list(argv[len(SERVE) :])


def option(args: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in args (the last one given), or None."""
    found = None
    for k, arg in enumerate(args):
        if arg == name and k + 1 < len(args):
            found = args[k + 1]
        elif arg.startswith(name + "="):
            found = arg[len(name) + 1 :]
    return found
