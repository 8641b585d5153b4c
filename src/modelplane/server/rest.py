"""The REST adapter: KServe V1 and Open Inference Protocol (V2) routes over the `DataPlane`.

Handlers decode with `protocol.v1`/`protocol.v2`, call the data plane, and encode; they hold no
model logic. Every error, raised anywhere below, leaves as `{"error": "..."}` with the status
from `protocol.errors`, so a bad request never turns into a 500 or takes the server down.
Inference and the health probes are answered by `hot_path` in front of these Starlette routes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from modelplane.observability.metrics import CONTENT_TYPE, ServerMetrics
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import v1, v2
from modelplane.server import bodies, hot_path, openai_routes
from modelplane.server.dataplane import DataPlane

JSON = "application/json"
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def error_response(exc: BaseException) -> Response:
    status, body = hot_path.wire_error(exc)
    return json_response(body, status)


def _guard(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return error_response(exc)

    return guarded


def create_app(dataplane: DataPlane, metrics: ServerMetrics, max_request_size: int) -> ASGIApp:
    """Build the ASGI app for one data plane: the hot path in front of the Starlette routes."""

    async def body_of(request: Request) -> bytes:
        return await bodies.read(
            request.receive,
            max_request_size,
            request.headers.get("content-length"),
            request.headers.get("content-encoding"),
        )

    def version_of(request: Request) -> str | None:
        version: str | None = request.path_params.get("version")
        return version

    # -- V1 ------------------------------------------------------------------------------

    async def v1_models(request: Request) -> Response:
        return json_response(v1.models_list(dataplane.repository.names()))

    async def v1_model(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(v1.model_status(name, await dataplane.model_ready(name)))

    async def v1_explain(request: Request) -> Response:
        payload = v1.decode(await body_of(request))
        result = await dataplane.explain(request.path_params["name"], payload, _headers(request))
        return json_response(v1.encode(result))

    # -- V2 ------------------------------------------------------------------------------

    server_metadata = v2.dumps(dataplane.server_metadata())

    async def v2_server(request: Request) -> Response:
        return json_response(server_metadata)

    async def v2_model(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(v2.dumps(dataplane.model_metadata(name, version_of(request))))

    async def v2_model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        ready = await dataplane.model_ready(name, version_of(request))
        return json_response(v2.dumps({"name": name, "ready": ready}), 200 if ready else 503)

    async def repository_index(request: Request) -> Response:
        body = await body_of(request)
        only_ready = bool(v1.decode(body).get("ready")) if body.strip() else False
        rows = dataplane.repository.index()
        if only_ready:
            rows = [row for row in rows if row["state"] == "READY"]
        return json_response(v2.dumps(rows))

    async def repository_load(request: Request) -> Response:
        name = request.path_params["name"]
        await dataplane.repository.load(name)
        return json_response(v2.dumps({"name": name, "load": True}))

    async def repository_unload(request: Request) -> Response:
        name = request.path_params["name"]
        await dataplane.repository.unload(name)
        return json_response(v2.dumps({"name": name, "unload": True}))

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def root(request: Request) -> Response:
        return json_response(b'{"status":"alive"}')

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/", root),
        ("GET", "/metrics", metrics_endpoint),
        ("GET", "/v1/models", v1_models),
        ("POST", "/v1/models/{name}:explain", v1_explain),
        ("GET", "/v1/models/{name}", v1_model),
        ("GET", "/v2", v2_server),
        ("POST", "/v2/repository/index", repository_index),
        ("POST", "/v2/repository/models/{name}/load", repository_load),
        ("POST", "/v2/repository/models/{name}/unload", repository_unload),
        ("GET", model, v2_model),
        ("GET", versioned, v2_model),
        ("GET", model + "/ready", v2_model_ready),
        ("GET", versioned + "/ready", v2_model_ready),
    ]
    routes = [Route(path, _guard(handler), methods=[method]) for method, path, handler in table]
    routes += openai_routes.routes(dataplane, body_of)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = f"no route for {request.method} {request.url.path}; see /v1/models or /v2"
        return json_response(wire_errors.error_body(message), exc.status_code)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return hot_path.HotPath(app, dataplane, max_request_size)


def _headers(request: Request) -> dict[str, str]:
    # A plain dict, as KServe passes: models may add entries (`headers["request-type"] = ...`).
    return dict(request.headers.items())
