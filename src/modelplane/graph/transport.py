"""How the router calls one step: a POST over HTTP, or `ModelInfer` over gRPC.

A step's URL names a service as a cluster would (`{name}.{namespace}.{domain}`, or
`...svc.cluster.local`); such hosts are reached through the ingress the router was given
(`modelplane up`'s gateway), with the host in the `Host` header, so the gateway's revisions,
canary split and scale-from-zero apply to graph traffic too. Any other host is called as
written. `grpc://HOST[:PORT]/MODEL` is a gRPC step: `ModelInfer` for MODEL, its body converted
by `bridge`. Whatever happens, a call ends in a `Reply` (status, body): an answer as the service
gave it, or the router's own status for what went wrong on the way (502/503 unreachable, 504
out of time, 400 a body the step's protocol cannot carry), never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
import httpx
import orjson

from modelplane.core import errors
from modelplane.graph import bridge

_INFER = "/inference.GRPCInferenceService/ModelInfer"
_CLUSTER = ".svc.cluster.local"
# gRPC status -> the HTTP status the router answers with (the Open Inference Protocol's table).
_GRPC_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None = "application/json"

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


def failure(status: int, cause: str) -> Reply:
    """The router's own error body, as KServe's router writes it."""
    return Reply(status, orjson.dumps({"error": "Failed to process request", "cause": cause}))


class Transport:
    def __init__(
        self,
        *,
        domain: str = "example.com",
        ingress: str | None = None,
        ingress_grpc: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.domain = domain
        self.ingress = ingress
        self.ingress_grpc = ingress_grpc
        self.timeout = timeout
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._http = httpx.AsyncClient(timeout=None, limits=limits)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _cluster_host(self, host: str) -> str | None:
        """The gateway host for a host that names a service, or None for any other host."""
        if host.endswith(_CLUSTER):
            return host[: -len(_CLUSTER)] + "." + self.domain
        return host if host.endswith("." + self.domain) else None

    async def call(self, url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> Reply:
        """POST `body` to the step at `url`; bounded by the serviceClient timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                if url.startswith("grpc://"):
                    return await self._grpc(url, body, headers)
                return await self._post(url, body, headers)
        except TimeoutError:
            limit = f"{self.timeout:g}s" if self.timeout else "none"
            return failure(504, f"{url}: no answer within the serviceClient timeout ({limit})")

    async def _post(self, url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> Reply:
        parts = urlsplit(url)
        host = parts.hostname or ""
        sent = list(headers)
        mapped = self._cluster_host(host) if self.ingress else None
        if mapped is not None:
            target = f"http://{self.ingress}{parts.path or '/'}"
            if parts.query:
                target += "?" + parts.query
            sent.append(("host", mapped))
        else:
            target = url
        if not any(k.lower() == "content-type" for k, _ in sent):
            sent.append(("content-type", "application/json"))
        try:
            response = await self._http.post(target, content=body, headers=sent)
        except httpx.ConnectError as exc:
            return failure(503, f"cannot reach {url}: {exc}")
        except httpx.HTTPError as exc:
            return failure(502, f"{url}: {type(exc).__name__}: {exc}")
        return Reply(response.status_code, response.content, response.headers.get("content-type"))

    async def _grpc(self, url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> Reply:
        parts = urlsplit(url)
        host, model = parts.hostname or "", parts.path.strip("/")
        if not model:
            return failure(400, f"{url}: a grpc:// step names its model: grpc://HOST:PORT/MODEL")
        mapped = self._cluster_host(host)
        if mapped is not None and self.ingress_grpc:
            target = self.ingress_grpc
        else:
            target = parts.netloc
        try:
            request = bridge.to_infer_request(body, model)
        except errors.ModelplaneError as exc:
            return failure(400, f"{url}: {exc.message}")
        metadata = tuple((k.lower(), v) for k, v in headers if k.lower() != "content-type")
        call = self._channel(target).unary_unary(_INFER)
        try:
            answer: bytes = await call(request, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            status = _GRPC_HTTP.get(exc.code(), 500)
            return Reply(status, orjson.dumps({"error": exc.details() or exc.code().name}))
        try:
            return Reply(200, bridge.from_infer_response(answer))
        except errors.ModelplaneError as exc:
            return failure(502, f"{url}: the answer cannot be read: {exc.message}")

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            options = [
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
            ]
            channel = self._channels[target] = grpc.aio.insecure_channel(target, options=options)
        return channel

    async def close(self) -> None:
        await self._http.aclose()
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
