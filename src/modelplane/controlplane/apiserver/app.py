"""The API server of `modelplane up`: routes of the Kubernetes resource API for the served kinds.

`create_app` wires the store, the validation and schema hooks and an optional PodSource into a
Starlette app behind bearer-token auth. Every handler answers errors as a Kubernetes `Status`;
an unexpected exception is logged and answered as a 500 Status, and the server keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelplane.controlplane import errors, store
from modelplane.controlplane.apiserver import (
    auth,
    context,
    core,
    discovery,
    objects,
    openapi,
    responses,
)
from modelplane.resources import catalog

log = logging.getLogger(__name__)
PodSource = core.PodSource
Handler = Callable[[context.Context, Request], Awaitable[Response]]
_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    store: store.Store,
    *,
    token: str,
    validate: context.Validate,
    schema: Callable[[catalog.Kind], dict[str, Any]],
    pods: PodSource | None = None,
    events: core.EventSource | None = None,
    now: Callable[[], datetime] = _now,
    bookmark_interval: float = 30.0,
) -> Starlette:
    ctx = context.Context(store, validate, now, bookmark_interval)
    documents: dict[str, dict[str, Any]] = {}

    def docs() -> dict[str, dict[str, Any]]:
        if not documents:
            documents.update(openapi.documents(schema))
        return documents

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                return await handler(ctx, request)
            except errors.ApiError as error:
                return responses.status_response(error)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return responses.status_response(
                    errors.InternalError("an internal error occurred; see the server's log"))
        return guarded

    def static(build: Callable[[Request], dict[str, Any] | None]) -> Handler:
        async def handler(_: context.Context, request: Request) -> Response:
            body = build(request)
            if body is None:
                raise errors.NotFound(
                    f"the server could not find the requested resource ({request.url.path})")
            return responses.json_response(body)
        return handler

    def openapi_doc(request: Request) -> dict[str, Any] | None:
        return docs().get(str(request.path_params["path"]))

    p = "/apis/{group}/{version}"
    ns = p + "/namespaces/{namespace}/{plural}"
    core_ns = "/api/v1/namespaces/{namespace}"
    routes = [
        Route("/version", endpoint(static(lambda r: discovery.version()))),
        Route("/api", endpoint(static(lambda r: discovery.api_versions(_address(r))))),
        Route("/api/v1", endpoint(static(lambda r: discovery.core_v1(pods=pods is not None)))),
        Route("/apis", endpoint(static(lambda r: discovery.group_list()))),
        Route("/apis/{group}", endpoint(static(lambda r: discovery.group(r.path_params["group"])))),
        Route(p, endpoint(static(lambda r: discovery.group_version(
            r.path_params["group"], r.path_params["version"])))),
        Route("/openapi/v3", endpoint(static(lambda r: openapi.index(docs())))),
        Route("/openapi/v3/{path:path}", endpoint(static(openapi_doc))),
        Route("/api/v1/namespaces", endpoint(core.namespaces)),
        Route("/api/v1/namespaces/{name}", endpoint(core.namespaces)),
        Route(core_ns + "/events", endpoint(core.events_handler(events))),
        Route("/api/v1/events", endpoint(core.events_handler(events))),
        Route(core_ns + "/pods", endpoint(core.pods_handler(pods))),
        Route("/api/v1/pods", endpoint(core.pods_handler(pods))),
        Route(core_ns + "/pods/{name}", endpoint(core.pods_handler(pods))),
        Route(core_ns + "/pods/{name}/log", endpoint(core.logs_handler(pods))),
        Route(ns, endpoint(objects.collection), methods=_ALL),
        Route(ns + "/{name}", endpoint(objects.item), methods=_ALL),
        Route(ns + "/{name}/{subresource}", endpoint(objects.item), methods=_ALL),
        Route(p + "/{plural}", endpoint(objects.collection), methods=_ALL),
        Route(p + "/{plural}/{name}", endpoint(objects.item), methods=_ALL),
        Route(p + "/{plural}/{name}/{subresource}", endpoint(objects.item), methods=_ALL),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(auth.BearerAuth, token=token)],
        exception_handlers={HTTPException: _http_error},
    )


def _address(request: Request) -> str:
    server = request.scope.get("server") or ("127.0.0.1", 0)
    return f"{server[0]}:{server[1]}"


async def _http_error(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    error: errors.ApiError
    if code == 404:
        error = errors.NotFound(
            f"the server could not find the requested resource ({request.url.path})")
    elif code == 405:
        error = errors.MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        error = errors.BadRequest(str(getattr(exc, "detail", "bad request")))
    return responses.status_response(error)
