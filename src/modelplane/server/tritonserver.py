"""`modelplane tritonserver`: the real Triton Inference Server, as a replica can run it.

KServe's `kserve-tritonserver` runtime runs NVIDIA's image, where `tritonserver` sits in
/opt/tritonserver with its backends beside it and the model repository is already downloaded to
/mnt/models. Here the binary comes from the `nvidia-pytriton` wheel (`modelplane[triton]`, Linux
only), which ships `tritonserver`, the Python backend and one Python backend stub per Python
version, and links its libraries from `nvidia_pytriton.libs`. This module puts those pieces where
Triton looks for them, fetches each `--model-repository` through `storage` (a local directory is
used as it lies), and then becomes `tritonserver` (exec), so the replica's process is Triton
itself and Triton's own `/v2/health/ready` is the replica's readiness.

The Python backend runs a model's `model.py` in an embedded interpreter (the stub) that finds
its `sys.prefix` through the `python3` on PATH: this environment's, so a model imports what is
installed here. The stub was built against NumPy 1, which is why the wheel asks for `numpy<2`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelplane.core import errors

INSTALL_HINT = "pip install 'modelplane[triton]' (the nvidia-pytriton wheel; Linux only)"
REPOSITORY_FLAGS = ("--model-repository", "--model-store")
EXIT_TIMEOUT = 3  # seconds; Triton's default is 30


class TritonSettings(BaseModel):
    """modelplane's own options of `modelplane tritonserver`; every other one is Triton's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1", description="Address Triton binds (unless --http-address/--grpc-address)."
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "modelplane",
        description="Where downloaded model repositories are cached.",
    )
    pvc_root: Path | None = Field(
        None, description="Where pvc://CLAIM/PATH repositories are mounted (default /mnt/pvc)."
    )


class TritonUnavailable(errors.ModelplaneError):
    """The tritonserver binary, or a piece it needs, is not installed here."""


@dataclass(frozen=True)
class Distribution:
    """Where the nvidia-pytriton wheel put Triton's files."""

    root: Path  # site-packages/pytriton/tritonserver

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def libs(self) -> Path:
        return self.root.parent.parent / "nvidia_pytriton.libs"

    @property
    def caches(self) -> Path:
        return self.root / "caches"

    def stub(self, version: tuple[int, int]) -> Path:
        return (
            self.root
            / "python_backend_stubs"
            / f"{version[0]}.{version[1]}"
            / ("triton_python_backend_stub")
        )


def locate() -> Distribution:
    """The installed distribution; `pytriton` is found, never imported (it imports NumPy)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonUnavailable(f"tritonserver is not installed: {INSTALL_HINT}")
    dist = Distribution(Path(next(iter(spec.submodule_search_locations))) / "tritonserver")
    if not dist.binary.is_file():
        raise TritonUnavailable(f"the pytriton package has no {dist.binary}: {INSTALL_HINT}")
    return dist


def backend_directory(dist: Distribution, cache_dir: Path) -> Path:
    """Triton's `--backend-directory`: `python/` holding the backend and this Python's stub
    (Triton looks for the stub beside the backend), as links into the wheel. Built once per
    wheel and Python version, in a temporary name then renamed, so replicas starting together
    never see half of it."""
    version = sys.version_info[:2]
    stub = dist.stub(version)
    if not stub.is_file():
        raise TritonUnavailable(
            f"the Python backend has no stub for Python {version[0]}.{version[1]} "
            f"(looked for {stub})"
        )
    backend = dist.root / "backends" / "python"
    digest = hashlib.sha256(str(dist.root).encode()).hexdigest()[:12]
    key = f"{digest}-py{version[0]}{version[1]}"
    target = cache_dir / "tritonserver" / key
    if (target / "python" / stub.name).exists():
        return target
    staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    (staging / "python").mkdir(parents=True, exist_ok=True)
    for source in (*(p for p in backend.iterdir() if p.is_file()), stub):
        link = staging / "python" / source.name
        if not link.exists():
            link.symlink_to(source)
    try:
        staging.rename(target)
    except OSError:  # another replica finished first: its copy is the same
        if not target.exists():
            raise
    return target


def environment(dist: Distribution, base: Mapping[str, str]) -> dict[str, str]:
    """Triton's libraries on the loader's path, with this interpreter's libpython (the stub
    links libpython3.X), and this environment's `python3` first on PATH for the stub."""
    env = dict(base)
    libs = [str(dist.libs)]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libs.append(str(sysconfig.get_config_var("LIBDIR")))
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libs)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in (bin_dir, env.get("PATH", "")) if p)
    return env


def command(
    dist: Distribution,
    args: Sequence[str],
    *,
    backends: Path,
    host: str,
    fetch: Callable[[str], Path],
) -> list[str]:
    """tritonserver's argv: `args` with every model repository made local by `fetch`, and
    modelplane's defaults for what the caller left out: bind `host`; the wheel's backends and
    caches; no metrics port (two replicas on one machine would both want Triton's 8002); and a
    short exit timeout, because on SIGTERM Triton waits for every open HTTP connection to close,
    idle keep-alive ones too (the gateway's and the prober's), and the control plane has taken
    the replica out of the routes before it stops it."""
    out: list[str] = []
    items = list(args)
    while items:
        arg = items.pop(0)
        flag, eq, value = arg.partition("=")
        if flag in REPOSITORY_FLAGS:
            if not eq:
                if not items:
                    raise ValueError(f"{flag} needs a value")
                value = items.pop(0)
            if not value:
                raise ValueError(f"{flag} is empty: the InferenceService needs a storageUri")
            arg = f"--model-repository={fetch(value)}"
        out.append(arg)
    if not any(a.split("=")[0] in REPOSITORY_FLAGS for a in args):
        raise ValueError("no model repository: give --model-repository=URI")
    given = {a.split("=")[0] for a in out}
    defaults = {
        "--http-address": host,
        "--grpc-address": host,
        "--backend-directory": str(backends),
        "--cache-directory": str(dist.caches),
        "--allow-metrics": "false",
        "--exit-timeout-secs": str(EXIT_TIMEOUT),
    }
    if "--metrics-port" in given:
        defaults.pop("--allow-metrics")
    extra = [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    return [str(dist.binary), *out, *extra]
