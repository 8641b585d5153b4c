"""The gRPC data path: `inference.GRPCInferenceService` on :8081, forwarded as raw bytes.

Every method is served by a generic handler with no (de)serializer, so a request's bytes go to
the replica as they came. A call finds its InferenceService as an HTTP request does: by a `host`
metadata entry (`{name}.{namespace}.{domain}`, what `grpcurl -H "Host: ..."` sends), else by the
model name, read with a tiny protobuf wire scanner (field 1 of the ModelInfer, ModelMetadata,
ModelReady, ModelConfig and ModelStatistics requests), never the tensors. So a Triton replica
serving a repository of models answers for each of them under its service's host. Liveness
and readiness are the gateway's own; ServerMetadata goes to any replica (or is answered here when
there is none); the model repository belongs to the control plane, so those calls are refused.
Errors map as for HTTP: an unknown model is NOT_FOUND, no replica in time UNAVAILABLE, the
route's timeout DEADLINE_EXCEEDED; a replica that cannot be reached is skipped for another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from modelplane.controlplane.gateway import balancer as balancer_

SERVICE = "inference.GRPCInferenceService"
_ROUTED = ("ModelInfer", "ModelMetadata", "ModelReady", "ModelConfig", "ModelStatistics")
_REFUSED = ("RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload")
_TRUE = b"\x08\x01"  # field 1 (live / ready) = true
_DROPPED = frozenset({"content-type", "te", "user-agent", "host", "connection", "accept-encoding"})
# Only a connection that never carried the call may be retried elsewhere: a replica that
# closed or reset the connection after taking the call may have crashed on it.
_UNREACHABLE = ("failed to connect", "connection refused")
_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
CONNECT_TIMEOUT = 5.0


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def field_string(data: bytes, number: int = 1) -> str:
    """The string in field `number` of a protobuf message, "" when absent; nothing else decoded."""
    pos, end = 0, len(data)
    try:
        while pos < end:
            tag, pos = _varint(data, pos)
            wire = tag & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = _varint(data, pos)
                if tag >> 3 == number:
                    return data[pos : pos + size].decode("utf-8", "replace")
                pos += size
            else:
                return ""
    except IndexError:
        return ""
    return ""


def _encode_string(number: int, value: str) -> bytes:
    raw = value.encode()
    size, out = len(raw), bytearray([number << 3 | 2])
    while size >= 0x80:
        out.append(size & 0x7F | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out) + raw


class GrpcProxy:
    def __init__(
        self, balancer: balancer_.Balancer, connect_timeout: float = CONNECT_TIMEOUT
    ) -> None:
        self.balancer = balancer
        # gRPC's own bound on one connect attempt (its default is 20 s): a replica on a host
        # that vanished fails over as soon as the HTTP path would.
        self._upstream_options = [
            *_OPTIONS,
            ("grpc.min_reconnect_backoff_ms", max(int(connect_timeout * 1000), 1)),
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._active: dict[str, int] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._server: grpc.aio.Server | None = None

    def handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, grpc.RpcMethodHandler] = {}
        for name in ("ServerLive", "ServerReady"):
            methods[name] = grpc.unary_unary_rpc_method_handler(self._true)
        methods["ServerMetadata"] = grpc.unary_unary_rpc_method_handler(self._server_metadata)
        for name in _ROUTED:
            methods[name] = grpc.unary_unary_rpc_method_handler(self._routed(name))
        for name in _REFUSED:
            methods[name] = grpc.unary_unary_rpc_method_handler(self._refused)
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    async def start(self, host: str, port: int) -> int:
        self._server = grpc.aio.server(options=_OPTIONS)
        self._server.add_generic_rpc_handlers((self.handler(),))
        bound: int = self._server.add_insecure_port(f"{host}:{port}")
        await self._server.start()
        return bound

    async def _true(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return _TRUE

    async def _refused(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "the model repository is managed by the control plane: apply an InferenceService",
        )
        raise AssertionError("unreachable")

    async def _server_metadata(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        for route in self.balancer.table.routes:
            for target in route.targets:
                for backend in target.backends:
                    if backend.grpc_target is not None:
                        call = self._channel(backend.grpc_target).unary_unary(
                            f"/{SERVICE}/ServerMetadata"
                        )
                        try:
                            answer: bytes = await call(request, timeout=10.0)
                            return answer
                        except grpc.aio.AioRpcError:
                            continue
        return _encode_string(1, "modelplane") + _encode_string(2, "0.1.0")

    def _routed(
        self, method: str
    ) -> Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]:
        path = f"/{SERVICE}/{method}"

        async def forward(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            name = field_string(request, 1)
            host = next((v for k, v in context.invocation_metadata() or () if k == "host"), "")
            route = self.balancer.table.by_host(str(host)) or self.balancer.table.by_model(name)
            if route is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"no InferenceService serves model {name!r}"
                )
            assert route is not None
            timeout = route.timeout
            left = context.time_remaining()
            if left is not None and (timeout is None or left < timeout):
                timeout = left
            metadata = tuple(
                (k, v)
                for k, v in context.invocation_metadata() or ()
                if not k.startswith((":", "grpc-")) and k not in _DROPPED
            )
            try:
                async with asyncio.timeout(timeout):
                    return await self._forward(route, path, request, metadata, context)
            except TimeoutError:
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer within {timeout:g}s"
                )
            except balancer_.GatewayError as exc:
                await context.abort(getattr(grpc.StatusCode, exc.grpc_code), str(exc))
            raise AssertionError("unreachable")

        return forward

    async def _forward(
        self,
        route: Any,
        path: str,
        request: bytes,
        metadata: tuple[tuple[str, Any], ...],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> bytes:
        ticket = balancer_.Ticket()
        try:
            while True:
                lease = await self.balancer.acquire(route, ticket, None)
                target = lease.backend.grpc_target
                try:
                    if target is None:
                        raise balancer_.NoGrpc(
                            f"InferenceService {route.namespace}/{route.name} does not serve "
                            "gRPC (its container has no gRPC port); use REST on :8080"
                        )
                    call = self._calls.get((target, path))
                    if call is None:
                        call = self._channel(target).unary_unary(path)
                        self._calls[(target, path)] = call
                    self._active[target] = self._active.get(target, 0) + 1
                    try:
                        answer: bytes = await call(request, metadata=metadata)
                    except grpc.aio.AioRpcError as exc:
                        details = (exc.details() or "").lower()
                        if exc.code() == grpc.StatusCode.UNAVAILABLE and any(
                            s in details for s in _UNREACHABLE
                        ):
                            ticket.excluded.add(lease.backend.name)
                            continue
                        await context.abort(exc.code(), exc.details() or "")
                        raise
                    finally:
                        self._active[target] -= 1
                    await context.send_initial_metadata(
                        (("x-modelplane-revision", lease.target.revision),)
                    )
                    return answer
                finally:
                    self.balancer.release(lease)
        finally:
            self.balancer.finish(ticket)

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = self._channels[target] = grpc.aio.insecure_channel(
                target, options=self._upstream_options
            )
        return channel

    def prune(self, keep: set[str]) -> None:
        """Close channels to replicas no longer routed once nothing is in flight on them."""
        for target in [t for t in self._channels if t not in keep]:
            if self._active.get(target, 0):
                continue  # draining: a later route change closes it
            channel = self._channels.pop(target)
            self._active.pop(target, None)
            for key in [k for k in self._calls if k[0] == target]:
                del self._calls[key]
            try:
                task = asyncio.get_running_loop().create_task(channel.close())
            except RuntimeError:  # no loop: nothing can be using it
                continue
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
