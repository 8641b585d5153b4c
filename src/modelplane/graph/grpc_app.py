"""The router's gRPC side: `inference.GRPCInferenceService` whose `ModelInfer` runs the graph.

KServe's graphs are HTTP only; here a graph is also an Open Inference Protocol gRPC endpoint.
Through `modelplane up`'s gateway it is called like a service, by name: `ModelInfer` with
`model_name` set to the graph's name. The request becomes V2 JSON for the graph (`bridge`), and
the graph's answer a `ModelInferResponse`. A failed graph is a gRPC error whose code matches its
HTTP status (404 NOT_FOUND, 400 INVALID_ARGUMENT, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED) and
whose details are the failing step's body. Liveness and readiness answer as the HTTP side does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from modelplane.core import errors
from modelplane.graph import bridge
from modelplane.graph import executor as executor_
from modelplane.graph import headers as headers_

SERVICE = "inference.GRPCInferenceService"
_TRUE = b"\x08\x01"  # field 1 (live / ready) = true
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class GraphServicer:
    def __init__(self, executor: executor_.Executor, propagate: Any = ()) -> None:
        self.executor = executor
        self.propagate = tuple(propagate)
        self.server_write = executor.graph.timeouts.server_write or None

    def handler(self) -> grpc.GenericRpcHandler:
        methods = {
            name: grpc.unary_unary_rpc_method_handler(self._true)
            for name in ("ServerLive", "ServerReady", "ModelReady")
        }
        methods["ModelInfer"] = grpc.unary_unary_rpc_method_handler(self._infer)
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    async def _true(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return _TRUE

    async def _infer(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        try:
            body, model = bridge.from_infer_request(request)
        except errors.ModelplaneError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
            raise AssertionError("unreachable") from None
        metadata = [(k, v) for k, v in context.invocation_metadata() or () if isinstance(v, str)]
        forwarded, request_id = headers_.propagated(metadata, self.propagate)
        await context.send_initial_metadata(((headers_.REQUEST_ID, request_id),))
        try:
            async with asyncio.timeout(self.server_write):
                reply = await self.executor.run(body, forwarded)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the graph did not answer within serverWrite ({self.server_write:g}s)",
            )
            raise AssertionError("unreachable") from None
        if not reply.ok:
            code = _CODES.get(reply.status, grpc.StatusCode.UNKNOWN)
            await context.abort(code, reply.body.decode("utf-8", "replace"))
        try:
            return bridge.to_infer_response(reply.body, model)
        except errors.ModelplaneError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.message)
            raise AssertionError("unreachable") from None


async def start(servicer: GraphServicer, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    )
    server.add_generic_rpc_handlers((servicer.handler(),))
    bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    await server.start()
    return server, bound
