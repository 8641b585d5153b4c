"""A real `ModelplaneServer` on real sockets, run in a background thread for a test.

The server gets its own event loop in its own thread, binds port 0 for REST and gRPC, and the
test waits on the server's own `started`/`ready` events, never on a sleep.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelplane.core.model import Model
from modelplane.server.runner import ModelplaneServer
from modelplane.server.settings import ServerSettings

TIMEOUT = 60.0


class RunningServer:
    def __init__(self, settings: ServerSettings, models: list[Model] | None = None) -> None:
        self.settings = settings
        self.models = models
        self.server: ModelplaneServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelplane-server", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.server = ModelplaneServer(self.settings, self.models)
            self.loop = asyncio.get_running_loop()
            task = asyncio.create_task(self.server.serve(exit_on_load_failure=False))
            started = asyncio.create_task(self.server.started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            self._started.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
        finally:
            self._started.set()

    def start(self, wait_ready: bool = True) -> RunningServer:
        self._thread.start()
        if not self._started.wait(TIMEOUT):
            raise TimeoutError("server did not start")
        if self.error is not None:
            raise self.error
        if wait_ready:
            self.call(self.srv.ready.wait())
        return self

    def call(self, coro: Any, timeout: float = TIMEOUT) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def srv(self) -> ModelplaneServer:
        assert self.server is not None
        return self.server

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.srv.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.srv.grpc_port}"

    def stop(self) -> None:
        if self.loop is not None and self.server is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(TIMEOUT)


def test_settings(**overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {"http_port": 0, "grpc_port": 0, "host": "127.0.0.1"}
    values.update(overrides)
    return ServerSettings(**values)


@contextmanager
def serving(
    settings: ServerSettings, models: list[Model] | None = None, wait_ready: bool = True
) -> Iterator[RunningServer]:
    running = RunningServer(settings, models).start(wait_ready)
    try:
        yield running
    finally:
        running.stop()
