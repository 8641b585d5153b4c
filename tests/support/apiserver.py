"""The control plane's API server for tests: uvicorn with TLS on 127.0.0.1, port 0, in a thread.

The server runs its own event loop in a thread so tests can be plain functions that run
`kubectl` or the (blocking) `kubernetes` client; `call` runs code against the store on that loop.
A kubeconfig is written once the server has started, as `modelplane up` does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from modelplane.controlplane import kubeconfig, store, tls
from modelplane.controlplane.apiserver import app as api_app
from modelplane.controlplane.apiserver import core
from modelplane.resources import catalog

KUBECTL = Path(sys.executable).parent / "kubectl"
T = TypeVar("T")


@dataclass
class Cause:
    field: str
    message: str
    reason: str = "FieldValueInvalid"


class SimpleInvalid(Exception):
    def __init__(self, causes: list[Cause]) -> None:
        super().__init__("; ".join(c.message for c in causes))
        self.causes = causes


def simple_validate(kind: catalog.Kind, obj: dict[str, Any], mode: str) -> tuple[dict, list[str]]:
    """A stand-in for resources.validation: unknown top-level fields, a required spec, a default."""
    known = {"apiVersion", "kind", "metadata", "spec", "status"}
    unknown = sorted(set(obj) - known)
    warnings: list[str] = []
    if unknown and mode == "Strict":
        raise SimpleInvalid(
            [Cause(f, f'unknown field "{f}"', "FieldValueUnknown") for f in unknown])
    if unknown and mode == "Warn":
        warnings = [f'unknown field "{f}"' for f in unknown]
    obj = {k: v for k, v in obj.items() if k not in unknown}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise SimpleInvalid([Cause("spec", "Required value", "FieldValueRequired")])
    if kind is catalog.INFERENCE_SERVICE:
        model = (spec.get("predictor") or {}).get("model") or {}
        if "storageUri" in model and not str(model["storageUri"]).strip():
            raise SimpleInvalid([Cause("spec.predictor.model.storageUri", "must not be empty")])
        if isinstance(model, dict) and model:
            model.setdefault("protocolVersion", "v1")
    return obj, warnings


def simple_schema(kind: catalog.Kind) -> dict[str, Any]:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                       "metadata": {"type": "object"}, "spec": loose, "status": loose},
        "x-kubernetes-group-version-kind": [
            {"group": kind.group, "version": kind.version, "kind": kind.kind}],
    }


class ApiServer:
    def __init__(
        self,
        home: Path,
        *,
        validate: Any = simple_validate,
        schema: Any = simple_schema,
        pods: core.PodSource | None = None,
        bookmark_interval: float = 30.0,
    ) -> None:
        self.home = home
        self.kubeconfig = home / "kubeconfig"
        self.token = kubeconfig.token(home / "token")
        self._certs = tls.ensure(home / "tls")
        self._options = dict(validate=validate, schema=schema, pods=pods,
                             bookmark_interval=bookmark_interval)
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.store: store.Store | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self._certs.ca_cert)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client that trusts the server's CA and sends the token."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context(),
                            headers={"Authorization": f"Bearer {self.token}"}, **options)

    def start(self, timeout: float = 30.0) -> ApiServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._failure is not None:
            raise RuntimeError(f"the API server did not start: {self._failure!r}")
        kubeconfig.write(self.kubeconfig, self.url, self._certs.ca_pem, self.token)
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(sock))
        except BaseException as exc:  # surfaced by start()
            self._failure = exc
            self._started.set()

    async def _serve(self, sock: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        self.store = store.Store(self.home / "store.db")
        app = api_app.create_app(self.store, token=self.token, **self._options)
        config = uvicorn.Config(app, ssl_certfile=str(self._certs.cert),
                                ssl_keyfile=str(self._certs.key), log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        deadline = time.monotonic() + 30
        while not self._server.started and not serving.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._started.set()
        try:
            await serving
        finally:
            self.store.close()

    def call(self, fn: Callable[[store.Store], T], timeout: float = 10.0) -> T:
        """Run `fn(store)` on the server's loop (the store's thread) and return its result."""
        assert self.loop is not None and self.store is not None
        db = self.store

        async def run() -> T:
            return fn(db)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        self._thread.join(10)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig),
             "--cache-dir", str(self.home / "kube-cache"), *args],
            input=input, capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def kubectl_popen(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.Popen(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig),
             "--cache-dir", str(self.home / "kube-cache"), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
