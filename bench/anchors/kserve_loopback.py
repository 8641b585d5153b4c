"""Start a `kserve.ModelServer` that listens on 127.0.0.1 only.

KServe 0.21 hard-codes its listen addresses: uvicorn gets `host="0.0.0.0"` inside
`RESTServer.__init__`, and the gRPC server calls `add_insecure_port("[::]:PORT")`. Neither is an
option, so this wrapper swaps the two names KServe's own module looks up for thin versions that
bind the loopback interface, and changes nothing else about how KServe serves.
"""

from __future__ import annotations

from typing import Any

import grpc
import kserve
import kserve.model_server
import kserve.protocol.grpc.server as kserve_grpc
from kserve.protocol.rest.server import RESTServer

HOST = "127.0.0.1"


class _LoopbackRESTServer(RESTServer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The uvicorn.Server built in super() holds this same Config object.
        self.config.host = HOST


class _LoopbackAio:
    """Stands in for `grpc.aio` inside KServe's gRPC module: servers it makes bind HOST."""

    def __getattr__(self, name: str) -> Any:
        return getattr(grpc.aio, name)

    @staticmethod
    def server(*args: Any, **kwargs: Any) -> Any:
        server = grpc.aio.server(*args, **kwargs)
        add_port = server.add_insecure_port

        def add_insecure_port(address: str) -> int:
            port = address.rsplit(":", 1)[1]
            return add_port(f"{HOST}:{port}")

        server.add_insecure_port = add_insecure_port
        return server


def serve(models: list[Any]) -> None:
    kserve.model_server.RESTServer = _LoopbackRESTServer
    kserve_grpc.aio = _LoopbackAio()
    kserve.ModelServer().start(models)
