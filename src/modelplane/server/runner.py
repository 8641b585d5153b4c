"""One `modelplane serve` process: REST (uvicorn) and gRPC in one event loop, started and stopped
together.

Start-up binds both ports first, so liveness answers while models download and load; readiness
turns true once every model is loaded. SIGTERM drains: readiness goes false, both servers stop
taking new requests and finish the ones in flight (up to `graceful_timeout`), then the models are
unloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import signal
import sys
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn

from modelplane.client import predictor
from modelplane.core import errors, ports
from modelplane.core.model import Model
from modelplane.observability.metrics import ServerMetrics
from modelplane.server import forwarding, grpc_service, one_write, rest, rest_observe
from modelplane.server.dataplane import DataPlane
from modelplane.server.repository import ModelRepository, ModelSpec, version_dirs
from modelplane.server.settings import ServerSettings

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001


def build_models(
    spec: ModelSpec,
    settings: ServerSettings,
    predictor_client: predictor.PredictorClient | None = None,
) -> dict[str | None, Model]:
    """Fetch a spec's storage URI and build one unloaded model per version it holds."""
    from modelplane.runtimes import selector
    from modelplane.storage import fetch

    options = {
        key: value
        for key, value in {
            "device": settings.device,
            "task": settings.task,
            "threads": settings.threads,
            "backend": settings.backend,
            "max_model_len": settings.max_model_len,
            "dtype": settings.dtype,
            # A KServe transformer's __init__ takes these (custom classes get those they name).
            "predictor_host": settings.predictor_host,
            "protocol": settings.predictor_protocol if settings.predictor_host else None,
        }.items()
        if value is not None
    }

    def create(directory: Any) -> Model:
        model = selector.create_model(
            spec.name,
            directory,
            model_format=spec.model_format,
            model_class=spec.model_class,
            options=options,
        )
        if predictor_client is not None:
            forwarding.attach(model, predictor_client)
        return model

    if spec.storage_uri is None:
        return {None: create(None)}
    path = fetch.download(
        spec.storage_uri, cache_dir=settings.cache_dir, pvc_root=settings.pvc_root
    )
    models: dict[str | None, Model] = {}
    for version, directory in version_dirs(path).items():
        model = create(directory)
        model.version = version
        models[version] = model
    return models


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling (the runner owns the shutdown order)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.bound = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.bound.set()


class ModelplaneServer:
    """The REST and gRPC servers of one process over one repository of models."""

    def __init__(
        self,
        settings: ServerSettings,
        models: list[Model] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self.metrics = ServerMetrics()
        self.executor = ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="model")
        self.predictor: predictor.PredictorClient | None = None
        if settings.predictor_host:
            self.predictor = predictor.PredictorClient(
                settings.predictor_host, settings.predictor_protocol, settings.predictor_address
            )
        self.repository = ModelRepository(lambda spec: build_models(spec, settings, self.predictor))
        if settings.storage_uri is not None or settings.model_class is not None:
            self.repository.add_spec(
                ModelSpec(
                    settings.model_name,
                    settings.storage_uri,
                    settings.model_format,
                    settings.model_class,
                )
            )
        for model in models or []:
            self.repository.add_model(model)
        if not self.repository.names():
            raise errors.ModelLoadError(
                "nothing to serve: give --storage-uri (a model directory or URI) "
                "or --model-class (a custom model)"
            )
        self.dataplane = DataPlane(
            self.repository,
            self.metrics,
            self.executor,
            max_batch_size=settings.max_batch_size,
            max_latency=settings.max_latency_ms / 1000,
        )
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.started = asyncio.Event()
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def serve(self, *, exit_on_load_failure: bool = True) -> None:
        """Run until `request_stop()`; raise if a model fails to load at start-up and
        `exit_on_load_failure` is set (the CLI's behaviour, as KServe's server exits)."""
        settings = self.settings
        # Synchronous model code runs in threads and holds the GIL for up to the switch interval
        # (5 ms by default) before the event loop gets it back; one health request needs several
        # hand-offs, so a CPU-bound predict could hold it past 50 ms. 1 ms keeps it well under.
        sys.setswitchinterval(SWITCH_INTERVAL)
        app = rest_observe.ObserveRequests(
            rest.create_app(self.dataplane, self.metrics, settings.max_request_size),
            self.metrics,
            self.repository,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.http_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),
            server_header=False,
            # X-Forwarded-* rewriting cost 8% of a request in the profile; nothing here uses it.
            proxy_headers=False,
            http=one_write.OneWriteProtocol,
        )
        http = _Uvicorn(config)
        # Both ports are taken before anything serves, so one in use is a PortUnavailable naming
        # its option. Workers share the ports their supervisor reserved: no gRPC check for them.
        http_socket = ports.listening(
            settings.host, settings.http_port, "http_port", reuse_port=self.reuse_port
        )
        grpc_server = None
        try:
            if settings.grpc_port >= 0:
                if not self.reuse_port:
                    ports.check_free(settings.host, settings.grpc_port, "grpc_port")
                grpc_server, self.grpc_port = await grpc_service.start(
                    self.dataplane, self.metrics, settings, reuse_port=self.reuse_port
                )
        except BaseException:
            http_socket.close()
            raise
        http_task = asyncio.create_task(http.serve([http_socket]))
        bound = asyncio.create_task(http.bound.wait())
        await asyncio.wait({http_task, bound}, return_when=asyncio.FIRST_COMPLETED)
        if not http.bound.is_set():
            bound.cancel()
            if grpc_server is not None:
                await grpc_server.stop(None)
            raise OSError(f"could not serve HTTP on {settings.host}:{settings.http_port}")
        self.http_port = http.servers[0].sockets[0].getsockname()[1]
        log.info(
            "serving REST on http://%s:%s and gRPC on %s",
            settings.host,
            self.http_port,
            f"{settings.host}:{self.grpc_port}" if grpc_server else "(disabled)",
        )
        self.started.set()
        try:
            await self.repository.load_all()
            _freeze_startup_objects()
            self.ready.set()
        except errors.ModelplaneError:
            if exit_on_load_failure:
                await self._shutdown(http, http_task, grpc_server)
                raise
        await self._stop.wait()
        await self._shutdown(http, http_task, grpc_server)

    async def _shutdown(self, http: _Uvicorn, http_task: Any, grpc_server: Any) -> None:
        log.info("shutting down: draining in-flight requests")
        self.dataplane.draining = True
        http.should_exit = True
        stops = [http_task]
        if grpc_server is not None:
            stops.append(asyncio.ensure_future(grpc_server.stop(self.settings.graceful_timeout)))
        await asyncio.gather(*stops, return_exceptions=True)
        await self.dataplane.close()
        await self.repository.unload_all()
        if self.predictor is not None:
            await self.predictor.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        log.info("stopped")


def _freeze_startup_objects() -> None:
    # Everything imported and loaded so far (frameworks, the model) lives as long as the
    # process. Moving it out of the collector's reach keeps full collections from walking it
    # under load: the bench saw 45-146 ms pauses, and 600 ms p99 latencies with them.
    gc.collect()
    gc.freeze()


def run(
    settings: ServerSettings, models: list[Model] | None = None, reuse_port: bool = False
) -> None:
    """Serve until SIGTERM or SIGINT; the entry point of `modelplane serve` (one process)."""

    async def main() -> None:
        server = ModelplaneServer(settings, models, reuse_port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        await server.serve()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(main())
    else:
        uvloop.run(main())
