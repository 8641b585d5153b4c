"""`ModelServer`: KServe's way to serve model objects from a script, kept so KServe custom model
scripts port by changing their import.

    model = MyModel("my-model")
    model.load()
    ModelServer().start([model])
"""

from __future__ import annotations

from typing import Any

from modelplane.core.model import Model
from modelplane.observability import logs
from modelplane.server import runner
from modelplane.server.settings import ServerSettings


class ModelServer:
    def __init__(
        self,
        http_port: int = 8080,
        grpc_port: int = 8081,
        enable_grpc: bool = True,
        grace_period: float = 30.0,
        max_threadpool_workers: int | None = None,
        **settings: Any,
    ) -> None:
        values: dict[str, Any] = {
            "http_port": http_port,
            "grpc_port": grpc_port if enable_grpc else -1,
            "graceful_timeout": grace_period,
            **settings,
        }
        if max_threadpool_workers is not None:
            values["thread_pool_size"] = max_threadpool_workers
        self.settings = ServerSettings(**values)

    def start(self, models: list[Model]) -> None:
        """Serve `models` until SIGTERM or SIGINT (models not loaded yet are loaded first)."""
        logs.configure(self.settings.log_level, self.settings.access_log)
        runner.run(self.settings, models)
