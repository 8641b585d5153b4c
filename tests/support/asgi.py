"""Any ASGI app under uvicorn on 127.0.0.1 port 0, inside the test's own event loop.

Readiness is uvicorn's own `started` flag, polled with a deadline; the app's URL is read from
the socket it bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def serving(app: Any, **config: Any) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yield its base URL."""
    options = {"host": "127.0.0.1", "port": 0, "log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 10
    while not server.started:  # uvicorn's started flag, polled with a deadline
        assert not task.done() and asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
