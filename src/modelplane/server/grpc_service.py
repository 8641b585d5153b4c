"""The gRPC adapter: `inference.GRPCInferenceService` and `grpc.health.v1` over the `DataPlane`.

Every call goes through `_serve`, which maps errors through `protocol.errors` to a status code
(never an unhandled exception), records the request metrics, writes the access log line and
returns the request id in the trailing metadata.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelplane.core import errors
from modelplane.observability import logs
from modelplane.observability.metrics import ServerMetrics
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import grpc_codec
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from modelplane.server.dataplane import DataPlane
from modelplane.server.settings import ServerSettings

T = TypeVar("T")
SERVICE = "inference.GRPCInferenceService"


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, dataplane: DataPlane, metrics: ServerMetrics) -> None:
        self.dataplane = dataplane
        self.metrics = metrics
        self.repository = dataplane.repository

    async def _serve(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        model: str,
        call: Callable[[dict[str, str], str], Awaitable[T]],
    ) -> T:
        headers = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        request_id = headers.get(logs.REQUEST_ID_HEADER) or logs.new_request_id()
        context.set_trailing_metadata(((logs.REQUEST_ID_HEADER, request_id),))
        code = "CANCELLED"  # until the call returns or fails: a client may cancel it
        in_flight = self.metrics.in_flight_for("grpc")
        in_flight.inc()
        start = time.perf_counter()
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            elapsed = time.perf_counter() - start
            in_flight.dec()
            label = model if model in self.repository else ""
            self.metrics.observe_request(label, "grpc", code, elapsed)
            logs.access(context.peer(), "gRPC", method, code, elapsed * 1000, request_id)

        try:
            result = await call(headers, request_id)
            code = "OK"
            return result
        except Exception as exc:
            status = wire_errors.status_of(exc)
            code = status.grpc
            # abort() sends the status at once: record first, so a client that reads /metrics
            # right after its error finds the request counted.
            record()
            await context.abort(grpc.StatusCode[code], wire_errors.message_of(exc))
            raise  # abort raises; this line only tells type checkers so
        finally:
            if not recorded:
                record()

    async def ServerLive(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            return pb.ServerLiveResponse(live=True)

        return await self._serve(context, "ServerLive", "", call)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            return pb.ServerReadyResponse(ready=await self.dataplane.ready())

        return await self._serve(context, "ServerReady", "", call)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            ready = await self.dataplane.model_ready(request.name, request.version or None)
            return pb.ModelReadyResponse(ready=ready)

        return await self._serve(context, "ModelReady", request.name, call)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            return grpc_codec.encode_server_metadata(self.dataplane.server_metadata())

        return await self._serve(context, "ServerMetadata", "", call)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            metadata = self.dataplane.model_metadata(request.name, request.version or None)
            return grpc_codec.encode_model_metadata(metadata)

        return await self._serve(context, "ModelMetadata", request.name, call)

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            infer_request = grpc_codec.decode_infer_request(request)
            if infer_request.id is None:
                infer_request.id = headers.get(logs.REQUEST_ID_HEADER)
            response = await self.dataplane.infer(infer_request, headers)
            return grpc_codec.encode_infer_response(
                response, raw=grpc_codec.wants_raw_output(request)
            )

        return await self._serve(context, "ModelInfer", request.model_name, call)

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            rows = self.repository.index()
            if request.ready:
                rows = [row for row in rows if row["state"] == "READY"]
            return grpc_codec.encode_repository_index(rows)

        return await self._serve(context, "RepositoryIndex", "", call)

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            name = grpc_codec.repository_model_name(request)
            await self.repository.load(name)
            return pb.RepositoryModelLoadResponse(model_name=name, isLoaded=True)

        return await self._serve(context, "RepositoryModelLoad", request.model_name, call)

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        async def call(headers: dict[str, str], rid: str) -> Any:
            name = grpc_codec.repository_model_name(request)
            await self.repository.unload(name)
            return pb.RepositoryModelUnloadResponse(model_name=name, isUnloaded=True)

        return await self._serve(context, "RepositoryModelUnload", request.model_name, call)


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """`grpc.health.v1.Health`, answered from live state rather than flags set by hand.

    The empty service name and `inference.GRPCInferenceService` mean the whole server; a model
    name means that model.
    """

    WATCH_INTERVAL = 1.0

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def _status(self, service: str) -> int:
        if service in ("", SERVICE):
            ready = await self.dataplane.ready()
        else:
            try:
                ready = await self.dataplane.model_ready(service)
            except errors.ModelNotFound:
                return health_pb2.HealthCheckResponse.SERVICE_UNKNOWN  # type: ignore[no-any-return]
        serving = health_pb2.HealthCheckResponse.SERVING
        return serving if ready else health_pb2.HealthCheckResponse.NOT_SERVING  # type: ignore[no-any-return]

    async def Check(self, request: Any, context: Any) -> Any:
        status = await self._status(request.service)
        if status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service '{request.service}'")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        last = None
        while True:
            status = await self._status(request.service)
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            await asyncio.sleep(self.WATCH_INTERVAL)


async def start(
    dataplane: DataPlane, metrics: ServerMetrics, settings: ServerSettings, reuse_port: bool = False
) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server; returns it and the port it bound."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_request_size),
            ("grpc.max_send_message_length", -1),
            # Off unless workers share the port: two servers must not split one by accident.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        InferenceService(dataplane, metrics), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(HealthService(dataplane), server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6: [::]:8081
    address = f"{host}:{settings.grpc_port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"could not serve gRPC on {address}: {exc}") from exc
    await server.start()
    return server, port
