"""The REST adapter: KServe V1 and Open Inference Protocol (V2) routes over the `DataPlane`.

Handlers decode with `protocol.v1`/`protocol.v2`, call the data plane, and encode; they hold no
model logic. Every error, raised anywhere below, leaves as `{"error": "..."}` with the status
from `protocol.errors`, so a bad request never turns into a 500 or takes the server down.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelplane.core import errors
from modelplane.observability.metrics import CONTENT_TYPE, ServerMetrics
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import v1, v2
from modelplane.server.dataplane import DataPlane

log = logging.getLogger(__name__)

JSON = "application/json"
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def error_response(exc: BaseException) -> Response:
    status = wire_errors.status_of(exc)
    if status.http >= 500 and not isinstance(exc, errors.ModelplaneError):
        log.error("unexpected error", exc_info=exc)
    elif status.http >= 500:
        log.warning("%s", exc)
    return json_response(wire_errors.error_body(wire_errors.message_of(exc)), status.http)


def _guard(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return error_response(exc)

    return guarded


def create_app(dataplane: DataPlane, metrics: ServerMetrics, max_request_size: int) -> Starlette:
    """Build the ASGI app for one data plane."""

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and _is_count(declared) and int(declared) > max_request_size:
            raise errors.PayloadTooLarge(_too_large(int(declared), max_request_size))
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_size:
                raise errors.PayloadTooLarge(_too_large(size, max_request_size))
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            body = _decompress(body, encoding, max_request_size)
        return body

    def version_of(request: Request) -> str | None:
        version: str | None = request.path_params.get("version")
        return version

    # -- V1 ------------------------------------------------------------------------------

    async def v1_models(request: Request) -> Response:
        return json_response(v1.models_list(dataplane.repository.names()))

    async def v1_model(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(v1.model_status(name, await dataplane.model_ready(name)))

    async def v1_predict(request: Request) -> Response:
        payload = v1.decode(await body_of(request))
        result = await dataplane.predict(request.path_params["name"], payload, _headers(request))
        return json_response(v1.encode(result))

    async def v1_explain(request: Request) -> Response:
        payload = v1.decode(await body_of(request))
        result = await dataplane.explain(request.path_params["name"], payload, _headers(request))
        return json_response(v1.encode(result))

    # -- V2 ------------------------------------------------------------------------------

    server_metadata = v2.dumps(dataplane.server_metadata())
    live = v2.dumps({"live": True})

    async def v2_server(request: Request) -> Response:
        return json_response(server_metadata)

    async def v2_live(request: Request) -> Response:
        return json_response(live)

    async def v2_ready(request: Request) -> Response:
        ready = await dataplane.ready()
        return json_response(v2.dumps({"ready": ready}), 200 if ready else 503)

    async def v2_model(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(v2.dumps(dataplane.model_metadata(name, version_of(request))))

    async def v2_model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        ready = await dataplane.model_ready(name, version_of(request))
        return json_response(v2.dumps({"name": name, "ready": ready}), 200 if ready else 503)

    async def v2_infer(request: Request) -> Response:
        header_length = request.headers.get(v2.HEADER_LENGTH)
        if header_length is not None and not _is_count(header_length):
            raise errors.InvalidInput(f"{v2.HEADER_LENGTH} must be a byte count")
        infer_request = v2.decode_request(
            await body_of(request),
            request.path_params["name"],
            version_of(request),
            int(header_length) if header_length is not None else None,
        )
        if infer_request.id is None:
            infer_request.id = request.headers.get("x-request-id")
        response = await dataplane.infer(infer_request, _headers(request))
        body, json_length = v2.encode_response(response, infer_request)
        if json_length is None:
            return json_response(body)
        return Response(
            body,
            media_type="application/octet-stream",
            headers={v2.HEADER_LENGTH: str(json_length)},
        )

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
        ("POST", "/v1/models/{name}:predict", v1_predict),
        ("POST", "/v1/models/{name}:explain", v1_explain),
        ("GET", "/v1/models/{name}", v1_model),
        ("GET", "/v2", v2_server),
        ("GET", "/v2/health/live", v2_live),
        ("GET", "/v2/health/ready", v2_ready),
        ("POST", "/v2/repository/index", repository_index),
        ("POST", "/v2/repository/models/{name}/load", repository_load),
        ("POST", "/v2/repository/models/{name}/unload", repository_unload),
        ("GET", model, v2_model),
        ("GET", versioned, v2_model),
        ("GET", model + "/ready", v2_model_ready),
        ("GET", versioned + "/ready", v2_model_ready),
        ("POST", model + "/infer", v2_infer),
        ("POST", versioned + "/infer", v2_infer),
    ]
    routes = [Route(path, _guard(handler), methods=[method]) for method, path, handler in table]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = f"no route for {request.method} {request.url.path}; see /v1/models or /v2"
        return json_response(wire_errors.error_body(message), exc.status_code)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body ({size} bytes) is larger than the {limit} bytes this server accepts; "
        "raise --max-request-size"
    )


def _is_count(value: str) -> bool:
    # str.isdigit() alone admits characters such as '²' that int() refuses.
    return value.isascii() and value.isdigit()


def _headers(request: Request) -> dict[str, str]:
    # A plain dict, as KServe passes: models may add entries (`headers["request-type"] = ...`).
    return dict(request.headers.items())


# zlib window bits: gzip framing, and zlib-wrapped deflate (what HTTP clients send).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise errors.UnsupportedEncoding(
            f"Content-Encoding '{encoding}' is not supported; send gzip, deflate or identity"
        )
    inflater = zlib.decompressobj(wbits)
    try:
        # Bounded, so a small compressed body cannot expand past the size limit.
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise errors.InvalidInput(f"the body is not valid {encoding} data: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise errors.PayloadTooLarge(_too_large(len(data), limit) + " (after decompression)")
    return data
