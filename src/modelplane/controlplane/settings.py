"""The settings of `modelplane up`: the single source of its options.

Like `modelplane serve`, the command line is derived from this model, each option also read
from `MODELPLANE_<FIELD>`, so `MODELPLANE_HOME` moves the whole state directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "MODELPLANE_"


class UpSettings(BaseModel):
    """Options of `modelplane up`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(
        Path(".modelplane"),
        description="State directory: the store, TLS files, kubeconfig, replica logs.",
    )
    host: str = Field("127.0.0.1", description="Address the API server and gateway bind.")
    api_port: int = Field(
        6443, ge=0, le=65535, description="Kubernetes-style API server port, HTTPS (0: a free one)."
    )
    http_port: int = Field(8080, ge=0, le=65535, description="Gateway REST port (0: a free one).")
    grpc_port: int = Field(
        8081, ge=-1, le=65535, description="Gateway gRPC port (0: a free one, -1: no gRPC)."
    )
    domain: str = Field(
        "example.com", description="Ingress domain: hosts are {name}.{namespace}.{domain}."
    )
    stable_window: float = Field(
        60.0, gt=0, description="Autoscaler stable window, seconds (Knative's default)."
    )
    panic_window: float = Field(6.0, gt=0, description="Autoscaler panic window, seconds.")
    scale_to_zero_grace: float = Field(
        30.0, ge=0, description="Idle seconds before a minReplicas: 0 revision scales to zero."
    )
    tick: float = Field(
        1.0, gt=0, description="Seconds between autoscaler samples and periodic reconciles."
    )
    activation_timeout: float = Field(
        120.0, gt=0, description="How long the gateway holds a request waiting for a replica."
    )
    max_request_size: int = Field(
        64 << 20, gt=0, description="Largest request body the gateway takes, bytes (413 over it)."
    )
    connect_timeout: float = Field(
        5.0, gt=0, description="Seconds the gateway waits to connect to a replica."
    )
    read_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds the gateway waits for a replica's answer to begin, and for each "
        "next piece of it, when the InferenceService sets no timeout.",
    )
    drain_timeout: float = Field(
        30.0, ge=0, description="How long a stopping replica may finish in-flight requests."
    )
    backend: Literal["local", "ray"] = Field(
        "local",
        description="Where replicas run: `local` processes, or actors on a Ray cluster "
        "(needs `modelplane[ray]` and --ray-address).",
    )
    ray_address: str | None = Field(
        None,
        description="The Ray cluster's GCS address, HOST:PORT, for --backend ray (also read "
        "from RAY_ADDRESS). Run `modelplane up` on one of its nodes.",
    )
    warm_starts: bool = Field(
        True,
        description="Fork `modelplane serve` replicas from a template process per model format "
        "that has the server and framework imported (sklearn, xgboost, lightgbm, onnx), so a "
        "scale-from-zero skips Python's start and imports. Local backend only.",
    )
    runtime_python: str | None = Field(
        None,
        description="Run the replicas of a model format with another environment's Python, as "
        "KServe runs each runtime in its own image: FORMAT=PYTHON[,FORMAT=PYTHON...], e.g. "
        "huggingface=.venv-vllm/bin/python for an environment with vLLM. That environment needs "
        "modelplane installed too.",
    )
    apply: Path | None = Field(
        None,
        description="A manifest file or directory to apply once the control plane is up, "
        "as `modelplane apply -f` would.",
    )
    router_headers: str = Field(
        "Authorization",
        description="Request headers InferenceGraph routers pass on to every step: regular "
        "expressions of header names, comma-separated (KServe's router.headers.propagate).",
    )
    log_level: str = Field("info", description="debug, info, warning or error.")

    @field_validator("runtime_python")
    @classmethod
    def _pythons_exist(cls, value: str | None) -> str | None:
        for model_format, python in _pairs(value).items():
            if not shutil.which(python):
                raise ValueError(
                    f"{model_format}={python}: no such program; give the path of a Python "
                    "interpreter (an environment's bin/python)"
                )
        return value

    @property
    def pythons(self) -> dict[str, str]:
        """Model format -> the Python its replicas run with (`--runtime-python`)."""
        return {fmt: str(Path(python).absolute()) if "/" in python else python
                for fmt, python in _pairs(self.runtime_python).items()}  # fmt: skip


def _pairs(value: str | None) -> dict[str, str]:
    pairs = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        model_format, sep, python = item.partition("=")
        if not sep or not model_format.strip() or not python.strip():
            raise ValueError(f"{item.strip()!r} is not FORMAT=PYTHON")
        pairs[model_format.strip().lower()] = python.strip()
    return pairs
