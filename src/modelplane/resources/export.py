"""`modelplane export`: the manifests a Kubernetes cluster running KServe needs to serve the same
InferenceServices on modelplane's model server, as pure data (objects in, objects out).

What comes out:

- one ClusterServingRuntime per model format modelplane serves (`modelplane-sklearn`, ...,
  `modelplane-huggingface`), shaped as KServe's own `kserve-sklearnserver` and the like: the
  same supported format and version, KServe's security context and resources, and a container
  that runs `modelplane serve` with the args KServe passes its own model servers (`--model_name`,
  `--model_dir=/mnt/models`, where KServe's storage initializer puts the model, `--http_port`,
  `--grpc_port`). Their formats are not `autoSelect`: KServe's admission refuses a second
  auto-selected runtime of a format at the same priority as its own, and a service that names no
  runtime should keep getting KServe's. The exported services name theirs instead;
- each InferenceService as written, except that its predictor names that runtime
  (`predictor.model.runtime`), a legacy framework key (`predictor.sklearn`) turned into the
  `predictor.model` form KServe needs for a named runtime, and modelplane's built-in
  `explainer.shap` turned into the container running it in the image. Everything else
  (replicas, canary, resources, transformer, labels) stays; only what a server sets (`status`,
  `resourceVersion`, `uid`, ...) is dropped, so `kubectl apply` creates rather than conflicts;
- every other object (a ServingRuntime, a Secret with storage credentials) unchanged, less the
  same server-set fields.

Notes tell what could not carry over: a model on this machine's disk, a format modelplane has no
runtime for, a runtime the service names that is none of modelplane's or KServe's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from modelplane.resources import builtin, catalog, inference_service, validation

RUNTIME_PREFIX = "modelplane-"
MODEL_DIR = "/mnt/models"  # where KServe's storage initializer puts the model
HTTP_PORT = 8080
GRPC_PORT = 8081
HOST_ENV = "MODELPLANE_HOST"  # `modelplane serve` binds loopback unless told; a pod needs all
_SERVER_SET = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
               "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")  # fmt: skip
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# KServe's own runtimes' container settings, copied so the pods look like theirs to a cluster.
_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


@dataclass(frozen=True)
class Format:
    """A model format modelplane serves, with KServe's version of it and its runtime's name."""

    name: str
    version: str
    protocols: tuple[str, ...]
    kserve_runtime: str

    @property
    def runtime(self) -> str:
        return RUNTIME_PREFIX + self.name


def formats() -> dict[str, Format]:
    """Every format `modelplane serve` loads, by name, read off the built-in runtimes."""
    found: dict[str, Format] = {}
    for runtime in builtin.cluster_runtimes():
        spec = runtime["spec"]
        if spec["containers"][0]["args"][0] != "serve":
            continue  # Triton: a cluster runs KServe's own kserve-tritonserver
        supported = spec["supportedModelFormats"][0]
        name = str(supported["name"])
        found[name] = Format(
            name,
            str(supported["version"]),
            tuple(spec["protocolVersions"]),
            str(runtime["metadata"]["name"]),
        )
    return found


def cluster_runtime(fmt: Format, image: str, versions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ClusterServingRuntime that runs `modelplane serve` for one format: KServe's version
    of the format, and `versions` besides (KServe matches a service's format version exactly,
    and `modelplane serve` loads a model whatever version its service writes)."""
    listed = [fmt.version, *sorted(set(versions) - {fmt.version})]
    kind = catalog.CLUSTER_SERVING_RUNTIME
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {
            "name": fmt.runtime,
            "labels": {"app.kubernetes.io/part-of": "modelplane"},
        },
        "spec": {
            "annotations": {
                "prometheus.kserve.io/port": str(HTTP_PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [
                {"name": fmt.name, "version": version, "autoSelect": False} for version in listed
            ],
            "protocolVersions": list(fmt.protocols),
            "containers": [
                {
                    "name": inference_service.PREDICTOR_CONTAINER,
                    "image": image,
                    "command": ["modelplane", "serve"],
                    "args": [
                        "--model_name={{.Name}}",
                        f"--model_dir={MODEL_DIR}",
                        f"--http_port={HTTP_PORT}",
                        f"--grpc_port={GRPC_PORT}",
                        f"--model-format={fmt.name}",
                    ],
                    "env": [{"name": HOST_ENV, "value": "0.0.0.0"}],
                    "securityContext": copy.deepcopy(_SECURITY_CONTEXT),
                    "resources": copy.deepcopy(_RESOURCES),
                }
            ],
        },
    }


@dataclass
class Export:
    """The objects to apply, runtimes first, and what the user should know about them."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export(documents: list[dict[str, Any]], *, image: str, all_runtimes: bool = False) -> Export:
    """The manifests that run `documents` on a KServe cluster with modelplane's server in
    `image`; the runtimes the services need, or all of them. An InferenceService modelplane
    would refuse raises `validation.ResourceInvalid`, naming the fields at fault."""
    known = formats()
    given_runtimes = {
        str((doc.get("metadata") or {}).get("name"))
        for doc in documents
        if doc.get("kind") in ("ServingRuntime", "ClusterServingRuntime")
    }
    result = Export()
    used: dict[str, set[str]] = {}  # format -> the versions services ask for
    rest: list[dict[str, Any]] = []
    for document in documents:
        obj = _without_server_fields(document)
        if obj.get("kind") == "InferenceService":
            model = _point_at_runtime(obj, known, given_runtimes, result.notes)
            _shap_as_container(obj, image)
            if model is not None and model.model_format is not None:
                versions = used.setdefault(model.model_format, set())
                versions.update([model.model_format_version] if model.model_format_version else [])
        rest.append(obj)
    result.objects = [
        cluster_runtime(fmt, image, tuple(used.get(fmt.name, ())))
        for fmt in known.values()
        if all_runtimes or fmt.name in used
    ] + rest
    return result


def _without_server_fields(document: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(document)
    obj.pop("status", None)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        for key in _SERVER_SET:
            metadata.pop(key, None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(_LAST_APPLIED, None)
            if not annotations:
                metadata.pop("annotations")
    return obj


def _point_at_runtime(
    obj: dict[str, Any], known: dict[str, Format], given: set[str], notes: list[str]
) -> inference_service.PredictorModel | None:
    """Name modelplane's runtime in the service's predictor, in place; its model if it did."""
    _, warnings = validation.validate(obj, field_validation="Warn")
    isvc = inference_service.InferenceService.from_object(obj)
    model = isvc.predictor_model()
    what = f'InferenceService "{isvc.name}"'
    # A field modelplane does not know goes on as written: KServe, not modelplane, reads it.
    notes += [
        f"{what}: {w} (not modelplane's; passed on for KServe to judge)"
        for w in warnings
        if w.startswith("unknown field")
    ]
    if model.source == "containers":
        return None  # the user's own model server, in the user's own image
    _note_storage(what, model.storage_uri, notes)
    fmt = known.get(model.model_format or "")
    if fmt is None:
        notes.append(
            f'{what}: modelplane has no runtime for model format "{model.model_format}"; left '
            "for KServe's own runtimes"
        )
        return None
    builtin_names = {fmt.runtime, fmt.kserve_runtime}
    if model.runtime is not None and model.runtime not in builtin_names:
        verb = "is in the export" if model.runtime in given else "must exist in the cluster"
        notes.append(f'{what}: keeps the runtime it names, "{model.runtime}" ({verb})')
        return None
    predictor: dict[str, Any] = obj["spec"]["predictor"]
    if model.source != "model":
        predictor = _as_model_form(predictor, model.source)
        obj["spec"]["predictor"] = predictor
    predictor["model"]["runtime"] = fmt.runtime
    return model


def _shap_as_container(obj: dict[str, Any], image: str) -> None:
    """`explainer.shap` (modelplane's, which KServe does not know) as the custom container that
    runs it: `modelplane serve` of the class, the background data through KServe's storage
    initializer (`STORAGE_URI`), the settings in the environment. KServe adds the predictor host."""
    explainer = obj["spec"].get("explainer")
    if not isinstance(explainer, dict) or not isinstance(explainer.get("shap"), dict):
        return
    shap = inference_service.ShapExplainerSpec.model_validate(explainer.pop("shap"))
    env = [
        {"name": HOST_ENV, "value": "0.0.0.0"},
        *(
            {"name": k, "value": v}
            for k, v in inference_service.config_env(shap.type, shap.config).items()
        ),
        *(e.model_dump(by_alias=True, exclude_none=True) for e in shap.env),
    ]
    args = [f"--model-class={inference_service.SHAP_EXPLAINER_CLASS}", f"--http_port={HTTP_PORT}",
            "--grpc_port=-1", *shap.args]  # fmt: skip
    if shap.storage_uri:
        env.append({"name": "STORAGE_URI", "value": shap.storage_uri})
        args.append(f"--model_dir={MODEL_DIR}")
    container: dict[str, Any] = {
        "name": inference_service.PREDICTOR_CONTAINER,
        "image": image,
        "command": ["modelplane", "serve"],
        "args": args,
        "env": env,
        "securityContext": copy.deepcopy(_SECURITY_CONTEXT),
    }
    resources = shap.resources_dict()
    if resources:
        container["resources"] = resources
    explainer["containers"] = [container]


def _as_model_form(predictor: dict[str, Any], key: str) -> dict[str, Any]:
    """`predictor.sklearn: {...}` as `predictor.model: {modelFormat: {name: sklearn}, ...}`,
    in the framework key's place among the predictor's keys."""
    out: dict[str, Any] = {}
    for name, value in predictor.items():
        if name == key:
            out["model"] = {"modelFormat": {"name": key}, **value}
        else:
            out[name] = value
    return out


def _note_storage(what: str, uri: str | None, notes: list[str]) -> None:
    scheme = uri.partition("://")[0] if uri is not None and "://" in uri else ""
    if uri is not None and scheme in ("", "file"):
        notes.append(
            f'{what}: storageUri "{uri}" is on this machine, which the cluster cannot read; '
            "upload the model and give an s3://, gs://, pvc:// or https:// URI"
        )
