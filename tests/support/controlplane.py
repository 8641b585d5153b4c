"""`modelplane up` as a user runs it: a subprocess with its own home, driven by the CLI,
kubectl and plain HTTP through its gateway.

Ports are read from the control plane's start-up lines (it binds port 0), and every wait polls
the API or the gateway with a deadline, so no test guesses how long anything takes.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from tests.support.process import ServeProcess, run_cli

KUBECTL = str(Path(sys.executable).parent / "kubectl")
T = TypeVar("T")
_HOST = r"(?:[\d.]+|\[[\da-f:]+\])"  # 127.0.0.1, 0.0.0.0 or [::]

# Short windows so autoscaling e2e tests run in seconds; a user gets Knative's defaults.
FAST = ("--stable-window", "4", "--panic-window", "1", "--scale-to-zero-grace", "2",
        "--tick", "0.2", "--drain-timeout", "10")  # fmt: skip


def wait_until(check: Callable[[], T | None], timeout: float = 90.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)  # a poll interval, not a guess at how long anything takes
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class ControlPlane(ServeProcess):
    def __init__(
        self,
        home: Path,
        *args: str,
        ports: tuple[int, int, int] = (0, 0, 0),
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        api, http, grpc = ports
        super().__init__(
            "--home", str(home), "--api-port", str(api), "--http-port", str(http),
            "--grpc-port", str(grpc), *FAST, *args,
            command="up", env=env,
        )  # fmt: skip
        self.api_port = 0

    def wait_up(self, timeout: float = 60.0) -> ControlPlane:
        api = self.wait_for_line(rf"API server on https://{_HOST}:(\d+)", timeout=timeout)
        self.api_port = int(api.group(1))
        gw = self.wait_for_line(rf"gateway REST on http://{_HOST}:(\d+) and gRPC on {_HOST}:(\d+)")
        self.http_port, self.grpc_port = int(gw.group(1)), int(gw.group(2))
        return self

    # -- clients ----------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return {"MODELPLANE_HOME": str(self.home)}

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        if input is None:
            return run_cli(*args, env=self.env)
        return subprocess.run(
            [sys.executable, "-m", "modelplane.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self.env},
        )

    def apply(self, manifest: str) -> None:
        """`modelplane apply -f -` of `manifest`; it must succeed."""
        result = self.cli("apply", "-f", "-", input=manifest)
        assert result.returncode == 0, result.stdout + result.stderr

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.home / "kubeconfig"), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def api(self) -> httpx.Client:
        config = yaml.safe_load((self.home / "kubeconfig").read_text())
        token = config["users"][0]["user"]["token"]
        return httpx.Client(
            base_url=f"https://127.0.0.1:{self.api_port}",
            verify=ssl.create_default_context(cafile=self.home / "tls" / "ca.crt"),
            headers={"Authorization": f"Bearer {token}"},
        )

    def gateway(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def isvc(self, name: str, namespace: str = "default") -> dict[str, Any]:
        path = f"serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"
        return self._get(path)

    def revision(self, name: str, namespace: str = "default") -> dict[str, Any]:
        return self._get(f"serving.knative.dev/v1/namespaces/{namespace}/revisions/{name}")

    def _get(self, path: str) -> dict[str, Any]:
        with self.api() as client:
            response = client.get(f"/apis/{path}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_ready(self, name: str = "", timeout: float = 120.0) -> Any:  # type: ignore[override]
        def ready() -> dict[str, Any] | None:
            obj = self.isvc(name)
            conditions = obj.get("status", {}).get("conditions", [])
            ok = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            return obj if ok else None

        return wait_until(ready, timeout, f"InferenceService {name} Ready")

    def predict(
        self, name: str, instances: list[list[float]], namespace: str = "default"
    ) -> httpx.Response:
        with self.gateway() as client:
            return client.post(
                f"/v1/models/{name}:predict",
                json={"instances": instances},
                headers={"Host": f"{name}.{namespace}.example.com"},
            )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
