"""uvicorn servers the control plane runs side by side in one event loop.

`modelplane up` serves the API (HTTPS) and the gateway (HTTP) from one process; each uvicorn
server here leaves signals to its owner, so the shutdown order (stop routing, drain replicas,
close the store) stays in one place, and reports the port it bound (port 0 picks one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn


class Listener(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.bound = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.bound.set()

    async def begin(self) -> int:
        """Start serving in a task; return the bound port, or raise OSError if it cannot bind."""
        self.task = asyncio.create_task(self.serve())
        waiter = asyncio.create_task(self.bound.wait())
        await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not self.bound.is_set():
            waiter.cancel()
            raise OSError(f"could not listen on {self.config.host}:{self.config.port}")
        return int(self.servers[0].sockets[0].getsockname()[1])

    async def end(self) -> None:
        self.should_exit = True
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


def listener(
    app: Any,
    host: str,
    port: int,
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    graceful: float = 5.0,
) -> Listener:
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
    return Listener(config)
