"""The ClusterServingRuntimes modelplane ships, one per framework `modelplane serve` loads.

They carry KServe's names (`kserve-sklearnserver`, `kserve-tensorflow-serving`, ...) so an
InferenceService that names one in `predictor.model.runtime` works unchanged, and each
marks its format `autoSelect` so a predictor that gives only a format finds it. Every one runs the
same program, `modelplane serve`, told the format explicitly; the image is `modelplane`, which
the control plane reads as "this installation's modelplane" (it starts processes, not images).

Placeholders in `args`, filled by the control plane (`serving_runtime.render`):

- `{{.Name}}`: the InferenceService's name, which the model is served under;
- `{{.StorageUri}}`: the predictor's `storageUri` (modelplane serve fetches it itself, where
  KServe's storage initializer would have downloaded it to `/mnt/models`);
- `{{.HttpPort}}` and `{{.GrpcPort}}`: the replica's private ports.

Unlike KServe's, they ask for no `resources`: KServe's 1 CPU and 2 GiB size a pod for a cluster
node, where on one machine they would pin every replica to one core and let only as many run as
it has cores. A predictor's own `resources` still hold its replicas to a share; `modelplane
export` writes KServe's sizes for a cluster.

A user may apply a ClusterServingRuntime of the same name to replace one; these are the defaults.
"""

from __future__ import annotations

from typing import Any

from modelplane.resources import catalog

IMAGE = "modelplane"

#: runtime name -> (model format, format version, the protocols it serves)
_RUNTIMES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "kserve-sklearnserver": ("sklearn", "1", ("v1", "v2", "grpc-v2")),
    "kserve-xgbserver": ("xgboost", "2", ("v1", "v2", "grpc-v2")),
    "kserve-lgbserver": ("lightgbm", "4", ("v1", "v2", "grpc-v2")),
    "kserve-onnxserver": ("onnx", "1", ("v1", "v2", "grpc-v2")),
    "kserve-pytorchserver": ("pytorch", "2", ("v1", "v2", "grpc-v2")),
    "kserve-huggingfaceserver": ("huggingface", "1", ("v1", "v2", "grpc-v2")),
    "kserve-tensorflow-serving": ("tensorflow", "1", ("v1", "v2", "grpc-v2")),
}
#: Further versions of a runtime's format, listed after the first: KServe's TF Serving runtime
#: takes SavedModels of TensorFlow 1 and 2 alike, and a service may name either.
_MORE_VERSIONS: dict[str, tuple[str, ...]] = {"kserve-tensorflow-serving": ("2",)}

ARGS = (
    "serve",
    "--model-name={{.Name}}",
    "--storage-uri={{.StorageUri}}",
    "--http-port={{.HttpPort}}",
    "--grpc-port={{.GrpcPort}}",
)


#: KServe's Triton runtime, run by `modelplane tritonserver` (the nvidia-pytriton wheel's binary).
#: Of KServe's formats for it (tensorrt, tensorflow, onnx, pytorch, triton) only `triton`: the
#: wheel ships the Python backend and no other, so a model repository of Python-backend models.
TRITON_RUNTIME = "kserve-tritonserver"
TRITON_ARGS = (
    "tritonserver",
    "--model-repository={{.StorageUri}}",
    "--http-port={{.HttpPort}}",
    "--grpc-port={{.GrpcPort}}",
    "--allow-grpc=true",
    "--allow-http=true",
)


def cluster_runtimes() -> list[dict[str, Any]]:
    """The built-in ClusterServingRuntime objects, fresh dicts on every call."""
    runtimes = [_runtime(name, *spec) for name, spec in _RUNTIMES.items()]
    triton = _runtime(TRITON_RUNTIME, "triton", "2", ("v2", "grpc-v2"))
    triton["spec"]["containers"][0]["args"] = list(TRITON_ARGS)
    return [*runtimes, triton]


def _runtime(name: str, fmt: str, version: str, protocols: tuple[str, ...]) -> dict[str, Any]:
    kind = catalog.CLUSTER_SERVING_RUNTIME
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "modelplane"}},
        "spec": {
            "supportedModelFormats": [
                {"name": fmt, "version": each, "autoSelect": True, "priority": 1}
                for each in (version, *_MORE_VERSIONS.get(name, ()))
            ],
            "protocolVersions": list(protocols),
            "containers": [
                {
                    "name": "kserve-container",
                    "image": IMAGE,
                    "command": ["modelplane"],
                    "args": [*ARGS[:2], f"--model-format={fmt}", *ARGS[2:]],
                }
            ],
        },
    }
