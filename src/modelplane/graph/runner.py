"""One `modelplane router` process: the graph's HTTP and gRPC sides on one event loop.

The graph is read and checked before anything listens, so a graph that cannot route (a bad
condition, a missing node) ends the process at once with the reason, which is what the control
plane shows in the graph's status. SIGTERM fails readiness first, then stops the servers; the
control plane has already taken the replica out of the gateway and drained it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Generator
from typing import Any

import orjson
import uvicorn
import yaml

from modelplane.core import errors, ports
from modelplane.graph import app as app_
from modelplane.graph import executor, grpc_app, headers, spec, transport
from modelplane.graph.settings import RouterSettings

log = logging.getLogger("modelplane.graph")


def load(settings: RouterSettings) -> spec.Graph:
    """The graph the settings name, parsed and checked; a `ModelplaneError` says why not."""
    if settings.graph_json is not None:
        text, what = settings.graph_json, "--graph-json"
    elif settings.graph_file is not None:
        try:
            text, what = settings.graph_file.read_text(), str(settings.graph_file)
        except OSError as exc:
            raise errors.ModelplaneError(f"cannot read the graph: {exc}") from None
    else:
        raise errors.ModelplaneError("no graph: give --graph-json or --graph-file")
    try:
        raw: Any = orjson.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise errors.ModelplaneError(f"{what}: not JSON or YAML: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("spec"), dict):
        raw = raw["spec"]  # a whole InferenceGraph manifest
    if not isinstance(raw, dict):
        raise errors.ModelplaneError(f"{what}: the graph must be an object with 'nodes'")
    try:
        return spec.parse(raw, namespace=settings.namespace, domain=settings.domain)
    except spec.GraphError as exc:
        raise errors.ModelplaneError(f"{what}: {exc}") from None


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling (the runner owns the shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(settings: RouterSettings, stop: asyncio.Event) -> None:
    graph = load(settings)
    text = settings.propagate_headers
    if text is None:
        text = os.environ.get("PROPAGATE_HEADERS", ",".join(headers.DEFAULT_PATTERNS))
    try:
        patterns = headers.compile_patterns(text)
    except ValueError as exc:
        raise errors.ModelplaneError(f"--propagate-headers: {exc}") from None
    calls = transport.Transport(
        domain=settings.domain,
        ingress=settings.ingress,
        ingress_grpc=settings.ingress_grpc,
        timeout=graph.timeouts.service_client,
    )
    walker = executor.Executor(graph, calls.call)
    http_app = app_.RouterApp(walker, propagate=patterns)
    config = uvicorn.Config(
        http_app, host=settings.host, port=settings.http_port, lifespan="off", log_config=None,
        access_log=False, server_header=False, http="httptools",
        timeout_keep_alive=max(1, int(graph.timeouts.server_idle)),
    )  # fmt: skip
    sock = ports.listening(settings.host, settings.http_port, "http_port")
    http = _Uvicorn(config)
    http_task = asyncio.create_task(http.serve([sock]))
    grpc_server = None
    try:
        port = sock.getsockname()[1]
        grpc_port: int | None = None
        if settings.grpc_port >= 0:
            servicer = grpc_app.GraphServicer(walker, patterns)
            grpc_server, grpc_port = await grpc_app.start(
                servicer, settings.host, settings.grpc_port
            )
        log.info(
            "router for graph %s on http://%s:%s and gRPC on %s",
            settings.name, settings.host, port,
            f"{settings.host}:{grpc_port}" if grpc_port else "(disabled)",
        )  # fmt: skip
        await stop.wait()
        http_app.stopping = True
    finally:
        http.should_exit = True
        if grpc_server is not None:
            await grpc_server.stop(5.0)
        await asyncio.gather(http_task, return_exceptions=True)
        sock.close()
        await calls.close()


def run(settings: RouterSettings) -> None:
    """Run until SIGTERM or SIGINT: the entry point of `modelplane router`."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
