"""`modelplane up`: the whole control plane in one process and one event loop.

Assembly only: the store, the API server (HTTPS, token), the gateway (HTTP and gRPC), the
replica manager, the autoscaler and the reconciler, wired together, started in order and
stopped in reverse. Everything it knows is in the store or in the replica records under
`home`, so `kill -9` loses nothing: the next `up` adopts the replicas and carries on.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from modelplane.controlplane import (
    addresses,
    autoscaler,
    errors,
    graphs,
    kubeconfig,
    listeners,
    pods,
    reconciler,
    replicas,
    store,
    tls,
)
from modelplane.controlplane.apiserver import app as api_app
from modelplane.controlplane.gateway import Gateway
from modelplane.controlplane.replicas import local, warm
from modelplane.controlplane.settings import UpSettings
from modelplane.core import errors as core_errors
from modelplane.core import ports
from modelplane.resources import builtin, catalog, loading, schema, validation

log = logging.getLogger("modelplane.controlplane")

SERVE_ARGV = (sys.executable, "-m", "modelplane.cli", "serve")


def _validate(
    kind: catalog.Kind, obj: dict[str, Any], field_validation: str
) -> tuple[dict[str, Any], list[str]]:
    if not kind.user_writable:
        return obj, []
    return validation.validate(obj, field_validation=field_validation)


def kubeconfig_path(home: Path) -> Path:
    return home / "kubeconfig"


class ControlPlane:
    """The running pieces of `modelplane up`; `run()` until `stop()`."""

    def __init__(self, settings: UpSettings, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.home = settings.home.resolve()
        self.clock = clock
        self.api_port: int | None = None
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.started = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        settings, home = self.settings, self.home
        home.mkdir(parents=True, exist_ok=True)
        lock = _lock_home(home)
        try:
            api_socket, http_socket = _take_ports(settings)
        except BaseException:
            lock.close()
            raise
        objects = store.Store(home / "store.db")
        certs = tls.ensure(home / "tls", addresses.machine_names(settings.host))
        token = kubeconfig.token(home / "token")
        scaler = autoscaler.Autoscaler(self.clock)
        holder: list[reconciler.Reconciler] = []

        def on_demand(namespace: str, revision: str) -> None:
            if holder:
                holder[0].on_demand(namespace, revision)

        def on_change() -> None:
            if holder:
                holder[0].poke()

        gateway = Gateway(
            on_demand=on_demand,
            activation_timeout=settings.activation_timeout,
            max_request_size=settings.max_request_size,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        )
        manager = replicas.ReplicaManager(
            home,
            backend=_replica_backend(settings, home),
            on_change=on_change,
            in_flight=gateway.in_flight,
            drain_timeout=settings.drain_timeout,
        )
        loop = reconciler.Reconciler(
            objects,
            manager,
            gateway,
            scaler,
            settings,
            serve_argv=SERVE_ARGV,
            now=lambda: datetime.now(UTC),
            clock=self.clock,
        )
        holder.append(loop)
        api = listeners.listener(
            api_app.create_app(
                objects,
                token=token,
                validate=_validate,
                schema=schema.openapi_schema,
                pods=pods.ReplicaPods(manager),
                events=loop.events,
            ),
            api_socket,
            certfile=certs.cert,
            keyfile=certs.key,
        )
        gateway_http = listeners.listener(gateway.http_app(), http_socket)
        running: list[listeners.Listener] = []
        task: asyncio.Task[None] | None = None
        try:
            _install_builtin_runtimes(objects)
            await manager.start()  # adopt the replicas an earlier control plane left running
            self.api_port = await api.begin()
            running.append(api)
            # A wildcard bind is no address to dial: the kubeconfig names the loopback one.
            server_url = addresses.url("https", addresses.dial_host(settings.host), self.api_port)
            kubeconfig.write(kubeconfig_path(home), server_url, certs.ca_pem, token)
            self.http_port = await gateway_http.begin()
            running.append(gateway_http)
            if settings.grpc_port >= 0:
                # gRPC parses "host:port", so an IPv6 host goes in brackets.
                grpc_host = f"[{settings.host}]" if ":" in settings.host else settings.host
                self.grpc_port = await gateway.start_grpc(grpc_host, settings.grpc_port)
            dial = addresses.dial_host(settings.host)
            loop.graphs.ingress = graphs.Ingress(
                addresses.host_port(dial, self.http_port),
                addresses.host_port(dial, self.grpc_port) if self.grpc_port else None,
            )
            if settings.apply is not None:
                for line in apply_manifests(objects, settings.apply):
                    log.info("%s", line)
            loop.reconcile()
            task = asyncio.create_task(loop.run())
            log.info(
                "API server on %s (kubeconfig: %s, server %s)",
                addresses.url("https", settings.host, self.api_port),
                kubeconfig_path(home),
                server_url,
            )
            log.info(
                "gateway REST on %s and gRPC on %s",
                addresses.url("http", settings.host, self.http_port),
                addresses.host_port(settings.host, self.grpc_port)
                if self.grpc_port
                else "(disabled)",
            )
            self.started.set()
            await self._stop.wait()
            log.info("shutting down: stopping replicas")
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            # Open watches (`kubectl get -w`, `wait`) would hold the API server's shutdown.
            objects.end_watches()
            for server in reversed(running):
                await server.end()
            api_socket.close()  # if its server never began
            http_socket.close()
            await gateway.close()
            # A control plane that never came up (a port taken, a bad --apply) leaves the
            # replicas it adopted running for the next one; a normal stop stops them.
            await manager.close(stop=self.started.is_set())
            objects.close()
            lock.close()
            log.info("stopped")


def _lock_home(home: Path) -> IO[str]:
    """Hold `home/up.lock` for as long as this control plane runs.

    Two control planes on one home would each adopt and stop the other's replicas; the second
    one is refused instead. The lock goes with the process, so a `kill -9` leaves none behind.
    """
    handle = (home / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise core_errors.ModelplaneError(
            f"another `modelplane up` (pid {holder}) is running on {home}; stop it, "
            "or give this one its own --home"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _take_ports(settings: UpSettings) -> tuple[socket.socket, socket.socket]:
    """Listen on the API and gateway ports and check the gRPC port free, before anything else
    starts: a taken port stops `up` at once, naming its option, with nothing to undo."""
    taken: list[socket.socket] = []
    try:
        taken.append(ports.listening(settings.host, settings.api_port, "api_port"))
        taken.append(ports.listening(settings.host, settings.http_port, "http_port"))
        if settings.grpc_port >= 0:
            ports.check_free(settings.host, settings.grpc_port, "grpc_port")
    except BaseException:
        for sock in taken:
            sock.close()
        raise
    return taken[0], taken[1]


def _replica_backend(settings: UpSettings, home: Path) -> replicas.ReplicaBackend | None:
    """The backend --backend names."""
    if settings.backend == "local":
        templates = warm.Templates(home / "templates") if settings.warm_starts else None
        return local.LocalBackend(templates=templates)
    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise core_errors.ModelplaneError(
            "--backend ray needs the cluster's address: --ray-address HOST:PORT "
            "(or RAY_ADDRESS), as `ray start --head` printed it"
        )
    try:
        from modelplane.controlplane.replicas import ray_backend
    except ImportError:
        raise core_errors.ModelplaneError(
            "--backend ray needs Ray: pip install 'modelplane[ray]'"
        ) from None
    return ray_backend.RayBackend(address, ray_backend.namespace_for(home))


def _install_builtin_runtimes(objects: store.Store) -> None:
    """Create the built-in ClusterServingRuntimes that are missing, as installing KServe does;
    one a user changed is left as it is."""
    kind = catalog.CLUSTER_SERVING_RUNTIME
    present = {obj["metadata"]["name"] for obj in objects.list(kind)[0]}
    for runtime in builtin.cluster_runtimes():
        if runtime["metadata"]["name"] not in present:
            objects.create(kind, runtime)


def apply_manifests(objects: store.Store, source: Path) -> list[str]:
    """Create or update each object of a manifest, validated as the API validates it."""
    done: list[str] = []
    for document in loading.load_documents(source):
        kind = catalog.by_kind(document.get("apiVersion", ""), document.get("kind", ""))
        if kind is None or not kind.user_writable:
            raise errors.BadRequest(
                f"{source}: cannot apply {document.get('kind')!r} "
                f"({document.get('apiVersion')!r}): not a kind modelplane serves"
            )
        obj, _warnings = _validate(kind, document, "Strict")
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            meta.setdefault("namespace", "default")
        label = f"{kind.singular}.{kind.group}/{meta['name']}"
        try:
            live = objects.get(kind, meta.get("namespace"), meta["name"])
        except errors.NotFound:
            objects.create(kind, obj)
            done.append(f"{label} created")
            continue
        if live.get("spec") == obj.get("spec"):
            done.append(f"{label} unchanged")
            continue
        objects.replace(kind, {**live, "spec": obj.get("spec")})
        done.append(f"{label} configured")
    return done


def run(settings: UpSettings) -> None:
    """Run until SIGTERM or SIGINT: the entry point of `modelplane up`."""

    async def main() -> None:
        plane = ControlPlane(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, plane.stop)
        await plane.run()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(main())
    else:
        uvloop.run(main())
