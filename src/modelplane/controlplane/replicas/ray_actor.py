"""The Ray actor that holds one replica process on the node Ray placed it on.

It runs inside a Ray worker, not in the control plane: it picks free ports on its node, starts
the replica's command bound to the node's address, writes its output to a file on the node, and
answers the control plane's questions (has it exited, signal it, the next piece of its log).
On Linux the replica gets PR_SET_PDEATHSIG, so it dies with the actor that started it: a
`ray.kill` or a lost node never leaves an orphan holding a port and a GPU.

Only the standard library, Ray and `local.py`'s helpers here: this module is imported on every
node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelplane.controlplane.replicas import local

_PR_SET_PDEATHSIG = 1
_LOG_CHUNK = 1 << 20


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(host: str, taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port nothing listens on now at `host` (the kernel's pick), not in taken."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            return port


class ReplicaActor:
    """One replica's process, as a Ray actor (made remote by the backend, async: one thread)."""

    def __init__(self) -> None:
        import ray  # in the Ray worker this runs in

        self.node_ip: str = ray.util.get_node_ip_address()
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.log_path: Path | None = None

    async def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], grpc: bool
    ) -> dict[str, Any]:
        host = self.node_ip
        http_port = free_port(host)
        grpc_port = free_port(host, {http_port}) if grpc else None
        command = local.render(argv, http_port, grpc_port)
        full_env = {
            **os.environ,
            **env,
            **local.port_env(http_port, grpc_port),
            "MODELPLANE_HOST": host,  # `modelplane serve` binds the node's address, not loopback
        }
        directory = Path(tempfile.gettempdir()) / "modelplane-replicas"
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.info = {
            "pid": self.process.pid,
            "host": host,
            "node": host,
            "http_port": http_port,
            "grpc_port": grpc_port,
            "argv": list(command),
        }
        return self.info

    async def status(self) -> dict[str, Any]:
        code = None if self.process is None else self.process.poll()
        return {**self.info, "returncode": code, "started": self.process is not None}

    async def wait(self) -> int | None:
        """The exit code once the process ends (negative: the signal that ended it)."""
        while self.process is not None and self.process.poll() is None:
            await asyncio.sleep(0.05)
        return None if self.process is None else self.process.returncode

    async def signal(self, number: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, number)

    async def read_log(self, offset: int) -> bytes:
        if self.log_path is None:
            return b""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read(_LOG_CHUNK)
        except OSError:
            return b""
