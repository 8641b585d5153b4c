"""uvicorn servers the control plane runs side by side in one event loop.

`modelplane up` serves the API (HTTPS) and the gateway (HTTP) from one process; each uvicorn
server here leaves signals to its owner, so the shutdown order (stop routing, drain replicas,
close the store) stays in one place. Each serves a socket bound beforehand (`core.ports`), so a
taken port fails before anything starts, naming its option, instead of uvicorn exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn


class Listener(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        super().__init__(config)
        self.sock = sock
        self.bound = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.bound.set()

    async def begin(self) -> int:
        """Start serving in a task; return the port, or raise OSError if it cannot listen."""
        self.task = asyncio.create_task(self.serve([self.sock]))
        waiter = asyncio.create_task(self.bound.wait())
        await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not self.bound.is_set():
            waiter.cancel()
            self.sock.close()
            raise OSError(f"could not listen on {self.config.host}:{self.config.port}")
        return self.port

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def end(self) -> None:
        self.should_exit = True
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        self.sock.close()


def listener(
    app: Any,
    sock: socket.socket,
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    graceful: float = 5.0,
) -> Listener:
    """A server of `app` on `sock`, a listening socket from `core.ports`."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        http="httptools",
        timeout_graceful_shutdown=max(1, int(graceful)),
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        # Keep-alive connections from a proxy or kubectl stay open between requests.
        timeout_keep_alive=75,
    )
    return Listener(config, sock)
