"""The graph router over real sockets: its HTTP app under uvicorn, steps served by small real
HTTP and gRPC servers on port 0, called through the router's real transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import orjson

from modelplane.core import inference
from modelplane.graph import app, executor, grpc_app, headers, spec, transport
from modelplane.protocol import grpc_codec
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from tests.support.asgi import serving


class Service:
    """A step: answers `{"seen": body, "host": ..., "headers": ...}`; /hold waits on `gate`."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.held = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = {k.decode(): v.decode() for k, v in scope["headers"]}
        if scope["path"].startswith("/hold"):
            self.held.set()
            await self.gate.wait()
        status = 418 if scope["path"].startswith("/teapot") else 200
        answer = orjson.dumps(
            {
                "seen": orjson.loads(body or b"null"),
                "path": scope["path"],
                "host": seen.get("host"),
                "headers": seen,
            }
        )
        start = {"type": "http.response.start", "status": status}
        await send({**start, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def router(
    nodes: dict[str, Any],
    *,
    timeout: float | None = None,
    ingress: str | None = None,
    ingress_grpc: str | None = None,
    patterns: str = "Authorization",
    timeouts: dict[str, int] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    graph = spec.parse({"nodes": nodes, "routerTimeouts": timeouts or {}})
    calls = transport.Transport(ingress=ingress, ingress_grpc=ingress_grpc, timeout=timeout)
    walker = executor.Executor(graph, calls.call)
    served = app.RouterApp(walker, propagate=headers.compile_patterns(patterns))
    try:
        async with serving(served) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        await calls.close()


def seq(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"root": {"routerType": "Sequence", "steps": list(steps)}}


async def test_listed_headers_and_the_request_id_reach_every_step() -> None:
    service = Service()
    async with (
        serving(service) as url,
        router(
            seq({"serviceUrl": f"{url}/a"}, {"serviceUrl": f"{url}/b"}),
            patterns="Authorization,X-Custom-.*",
        ) as client,
    ):
        answer = await client.post(
            "/",
            json={},
            headers={
                "Authorization": "Bearer t",
                "X-Custom-One": "1",
                "X-Other": "no",
                "x-request-id": "req-9",
            },
        )
    seen = answer.json()["headers"]
    assert seen["authorization"] == "Bearer t" and seen["x-custom-one"] == "1"
    assert "x-other" not in seen and seen["x-request-id"] == "req-9"
    assert answer.headers["x-request-id"] == "req-9"


async def test_cluster_hosts_go_through_the_ingress_with_their_host() -> None:
    service = Service()
    async with serving(service) as url:
        ingress = url.removeprefix("http://")
        async with router(
            seq(
                {"serviceUrl": "http://iris.default.example.com/v1/models/iris:predict"},
                {"serviceUrl": "http://iris-predictor.ns.svc.cluster.local/v2/models/x/infer"},
            ),
            ingress=ingress,
        ) as client:
            answer = await client.post("/", json={"instances": [[1]]})
    assert answer.json()["host"] == "iris-predictor.ns.example.com"
    assert answer.json()["path"] == "/v2/models/x/infer"


async def test_service_client_timeout_and_unreachable_steps_are_504_and_503() -> None:
    service = Service()
    async with (
        serving(service) as url,
        router(seq({"serviceUrl": f"{url}/hold"}), timeout=0.3) as client,
    ):
        slow = await client.post("/", json={})
        service.gate.set()
    assert slow.status_code == 504 and "serviceClient" in slow.json()["cause"]
    async with router(seq({"serviceUrl": "http://127.0.0.1:9/x"})) as client:
        gone = await client.post("/", json={})
    assert gone.status_code == 503
    assert gone.json()["error"] == "Failed to process request"


async def test_server_write_bounds_the_whole_graph() -> None:
    service = Service()
    async with (
        serving(service) as url,
        router(seq({"serviceUrl": f"{url}/hold"}), timeouts={"serverWrite": 1}) as client,
    ):
        answer = await client.post("/", json={})
        service.gate.set()
    assert answer.status_code == 504 and "serverWrite" in answer.json()["cause"]


async def test_a_failing_steps_status_and_body_pass_through() -> None:
    service = Service()
    async with (
        serving(service) as url,
        router(
            seq({"serviceUrl": f"{url}/teapot", "dependency": "Hard"}, {"serviceUrl": f"{url}/b"})
        ) as client,
    ):
        answer = await client.post("/", json={"x": 1})
    assert answer.status_code == 418 and answer.json()["path"] == "/teapot"


async def _doubling(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    """A gRPC model: each input back, doubled, as an output of the same name."""
    parsed = grpc_codec.decode_infer_request(pb.ModelInferRequest.FromString(request))
    if parsed.model_name != "double":
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no model {parsed.model_name}")
    outputs = [
        inference.InferOutput(t.name, t.shape, t.datatype, t.as_numpy() * 2) for t in parsed.inputs
    ]
    answer = inference.InferResponse(parsed.id, parsed.model_name, outputs)
    return bytes(grpc_codec.encode_infer_response(answer, raw=True).SerializeToString())


@asynccontextmanager
async def grpc_model() -> AsyncIterator[str]:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(_doubling)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "inference.GRPCInferenceService", {"ModelInfer": handler}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


TENSOR = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.5, 2.0]}


async def test_grpc_steps_chain_outputs_into_the_next_steps_inputs() -> None:
    service = Service()
    async with (
        grpc_model() as target,
        serving(service) as url,
        router(
            seq(
                {"serviceUrl": f"grpc://{target}/double"},
                {"serviceUrl": f"grpc://{target}/double", "data": "$response"},
                {"serviceUrl": f"{url}/v2/models/m/infer", "data": "$response"},
            ),
        ) as client,
    ):
        answer = await client.post("/", json={"inputs": [TENSOR]})
    # Twice doubled over gRPC; a REST step gets the V2 response as it is, as in KServe.
    seen = answer.json()["seen"]
    assert seen["outputs"][0]["name"] == "x" and seen["outputs"][0]["data"] == [6.0, 8.0]


async def test_grpc_step_errors_keep_their_meaning() -> None:
    async with grpc_model() as target, router(seq({"serviceUrl": f"grpc://{target}/nope"})) as c:
        unknown = await c.post("/", json={"inputs": [TENSOR]})
        not_v2 = await c.post("/", json={"instances": [[1]]})
    assert unknown.status_code == 404 and "no model nope" in unknown.json()["error"]
    assert not_v2.status_code == 400 and "Open Inference Protocol" in not_v2.json()["cause"]


async def test_a_graph_called_over_grpc_answers_a_model_infer_response() -> None:
    async with grpc_model() as target:
        graph = spec.parse(
            {
                "nodes": {
                    "root": {
                        "routerType": "Ensemble",
                        "steps": [{"serviceUrl": f"grpc://{target}/double", "name": "a"}],
                    }
                }
            }
        )
        calls = transport.Transport()
        servicer = grpc_app.GraphServicer(executor.Executor(graph, calls.call))
        server, port = await grpc_app.start(servicer, "127.0.0.1", 0)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
                request = grpc_codec.encode_infer_request(
                    inference.InferRequest(
                        "my-graph", [inference.InferInput("x", [1, 2], "FP32", [1.0, 2.0])]
                    )
                )
                raw = await infer(request.SerializeToString(), timeout=10)
        finally:
            await server.stop(None)
            await calls.close()
    answer = grpc_codec.decode_infer_response(pb.ModelInferResponse.FromString(raw))
    assert answer.model_name == "my-graph"
    assert [(o.name, o.as_numpy().tolist()) for o in answer.outputs] == [("a/x", [[2.0, 4.0]])]


def test_ports_taken_first_are_tcp_so_asyncio_turns_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP (they inherit the
    # listener's): with proto 0 every router answer (head, then body) waited ~40 ms for a
    # delayed ACK (bench/graph.py measured 48 ms a request; 1.3 ms with this).
    import socket

    from modelplane.core import ports

    sock = ports.listening("127.0.0.1", 0, "http_port")
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
