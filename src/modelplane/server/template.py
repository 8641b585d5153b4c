"""A warm template of `modelplane serve`: a process with the server and a framework imported, that
forks replicas in milliseconds.

A new replica otherwise pays Python's start and its imports (the server, NumPy, scikit-learn or
torch: seconds), which is most of a scale-from-zero. The control plane keeps one template per
model format (`controlplane.replicas.warm`) and asks it over a Unix socket for each replica: one
JSON line `{"args": [...], "env": {...}, "log": path}` in; the template forks, and the child
becomes `modelplane serve <args>` in a session of its own, its output appended to `log`, its
environment exactly `env`. The template answers `{"pid": N}` on the same connection and, when
the child ends, `{"returncode": R}` (Popen's convention: -N for signal N), then closes it.

The template stays single-threaded (a fork copies only the calling thread, so a lock held by
another thread would stay held in the child forever), runs no event loop and opens no gRPC
channel before forking; the child starts all of those itself. It exits when its parent, the
control plane, is gone; replicas already forked live on, as spawned ones do.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

TICK = 0.1  # how often the template reaps children and looks for its parent
_READ_TIMEOUT = 10.0

Serve = Callable[[Sequence[str]], int]


@dataclass(frozen=True)
class Request:
    args: list[str]
    env: dict[str, str]
    log: str

    @classmethod
    def parse(cls, data: bytes) -> Request:
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object with args, env and log")
        args, env, log = raw.get("args"), raw.get("env"), raw.get("log")
        if not isinstance(args, list) or not isinstance(env, dict) or not isinstance(log, str):
            raise ValueError("expected args (a list), env (an object) and log (a path)")
        return cls([str(a) for a in args], {str(k): str(v) for k, v in env.items()}, log)


def run(
    path: Path, parent: int, serve: Serve, after_fork: Callable[[], None] = lambda: None
) -> None:
    """Answer fork requests on the Unix socket `path` while process `parent` is our parent.

    The parent's pid comes from the parent itself: one that died during our imports has left
    us to init already, and os.getppid() at this point would name init.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener.bind(str(path))
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    print(f"template ready on {path}", flush=True)
    try:
        while os.getppid() == parent:
            readable, _, _ = select.select([listener], [], [], TICK)
            if readable:
                conn, _ = listener.accept()
                pid = _fork_one(conn, listener, children, serve, after_fork)
                if pid is not None:
                    children[pid] = conn
            _reap(children)
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fork_one(
    conn: socket.socket,
    listener: socket.socket,
    children: dict[int, socket.socket],
    serve: Serve,
    after_fork: Callable[[], None],
) -> int | None:
    try:
        request = _read_request(conn)
    except (OSError, ValueError) as exc:
        _send(conn, {"error": f"bad request: {exc}"})
        conn.close()
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        listener.close()
        for other in children.values():
            other.close()
        conn.close()
        _become_replica(request, serve, after_fork)
    _send(conn, {"pid": pid})
    return pid


def _read_request(conn: socket.socket) -> Request:
    conn.settimeout(_READ_TIMEOUT)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the request's end")
        data += chunk
    conn.settimeout(None)
    return Request.parse(data)


def _become_replica(request: Request, serve: Serve, after_fork: Callable[[], None]) -> None:
    code = 1
    try:
        os.setsid()
        log = os.open(request.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(devnull)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request.env)
        after_fork()
        code = serve(request.args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # the child must never return into the template's loop
        with contextlib.suppress(Exception):
            print(f"replica failed to start from the template: {exc!r}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _send(conn, {"returncode": code})
        conn.close()


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")
