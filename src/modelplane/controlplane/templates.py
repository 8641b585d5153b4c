"""From an InferenceService to the spec of its next revision: which process each replica runs.

KServe turns a predictor into a pod: the selected ServingRuntime's container, its placeholders
filled, the predictor's args and env added. modelplane does the same and runs the container's
command as a process. A container whose image is `modelplane` (every built-in runtime) runs this
installation's `modelplane serve`; a custom container runs its own `command`. Images are not
pulled or run: a container of one of KServe's well-known images (Triton, TF Serving, vLLM,
KServe's model servers) runs the local command doing the same job (`images`).
`resources` go with the template: a backend that places replicas on nodes (Ray)
reserves them there; none enforces a limit yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelplane.controlplane import autoscaler, components, images
from modelplane.controlplane.gateway import routes
from modelplane.controlplane.settings import UpSettings
from modelplane.resources import inference_service, serving_runtime

READY_PATH = "/v2/health/ready"
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class Runtimes:
    namespaced: list[dict[str, Any]] = field(default_factory=list)
    cluster: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """The revision spec an InferenceService asks for, or why it cannot run."""

    spec: dict[str, Any] | None
    failure: tuple[str, str] | None = None  # (reason, message) for the status
    canary: int | None = None
    timeout: float | None = None
    logger: routes.LoggerSpec | None = None


def plan(
    obj: dict[str, Any],
    runtimes: Runtimes,
    *,
    serve_argv: Sequence[str],
    component: str = "predictor",
    pythons: Mapping[str, str] | None = None,
) -> Plan:
    """The next revision spec of one component (`predictor`, `transformer`, `explainer`)."""
    try:
        isvc = inference_service.InferenceService.from_object(obj)
        model = isvc.component_model(component)
        protocol = isvc.predictor_model().protocol_version or "v1"
    except ValueError as exc:
        return Plan(None, ("InvalidSpec", str(exc)))
    logger = None
    if model.logger is not None and model.logger.url:
        headers = tuple(model.logger.metadata_headers or ())
        logger = routes.LoggerSpec(model.logger.url, model.logger.mode, headers)
    timeout = float(model.timeout) if model.timeout else None

    def failed(reason: str, message: str) -> Plan:
        return Plan(None, (reason, message), model.canary_traffic_percent, timeout, logger)

    values = {
        "Name": isvc.name,
        "StorageUri": model.storage_uri or "",
        "HttpPort": "{http_port}",
        "GrpcPort": "{grpc_port}",
    }
    runtime_name: str | None = None
    try:
        if model.source == "containers":
            container = _main(model.containers)
        elif model.source == "shap":
            container = components.shap_container(model)
        else:
            selected = serving_runtime.select_runtime(
                model, isvc.namespace, runtimes.namespaced, runtimes.cluster
            )
            runtime_name = selected.name
            container = selected.container_for(model, values)
    except serving_runtime.NoRuntime as exc:
        return failed("NoSupportingRuntime", str(exc))
    except ValueError as exc:
        return failed("InvalidSpec", str(exc))
    python = (pythons or {}).get((model.model_format or "").lower())
    if python is not None:  # this format's replicas run in another environment
        serve_argv = [python, *serve_argv[1:]]
    try:
        template = _template(container, model, serve_argv, isvc.name)
    except ValueError as exc:
        return failed("ContainerCannotRun", str(exc))
    if component != "predictor":
        template["argv"] = components.link_args(
            template["argv"], name=isvc.name, namespace=isvc.namespace, protocol=protocol,
            ours=template["grpc"],
        )  # fmt: skip
    spec = {
        "template": template,
        "runtime": runtime_name,
        "modelFormat": model.model_format,
        "storageUri": model.storage_uri,
        "containerConcurrency": model.container_concurrency,
        "timeoutSeconds": model.timeout,
        "autoscaling": {
            "minScale": model.min_replicas,
            "maxScale": model.max_replicas,
            "metric": model.scale_metric if model.scale_metric == "rps" else "concurrency",
            "target": autoscaler.default_target(
                model.scale_metric, model.scale_target, model.container_concurrency
            ),
        },
    }
    return Plan(spec, None, model.canary_traffic_percent, timeout, logger)


def _main(containers: Sequence[inference_service.Container]) -> inference_service.Container:
    wanted = inference_service.PREDICTOR_CONTAINER
    return next((c for c in containers if c.name == wanted), containers[0])


def _template(
    container: inference_service.Container,
    model: inference_service.PredictorModel,
    serve_argv: Sequence[str],
    name: str,
) -> dict[str, Any]:
    env = container.env_dict()
    expand = {**env, "PORT": "{http_port}"}
    command = [_expand(a, expand) for a in container.command]
    args = [_expand(a, expand) for a in container.args]
    modelplane_cli = list(serve_argv[:-1])  # python -m modelplane.cli
    if command[:1] == ["modelplane"]:
        argv, ours = [*modelplane_cli, *command[1:], *args], True
    elif not command and (container.image or "modelplane").startswith("modelplane"):
        argv, ours = [*modelplane_cli, *args], True
    elif (
        mapped := images.local_command(
            container.image, command, args, images.Context(name, model.storage_uri)
        )
    ) is not None:
        argv, ours = [*modelplane_cli, *mapped], True
    elif command:
        argv, ours = [*command, *args], False
    else:
        raise ValueError(
            f"container {container.name!r} has image {container.image!r} and no command: "
            "modelplane runs processes, not images, and knows these: "
            f"{', '.join(images.known_images())}; give the container a `command`, or use "
            "image `modelplane`"
        )
    # Batching is modelplane serve's; Triton batches as each model's config.pbtxt says.
    serves = argv[len(modelplane_cli) : len(modelplane_cli) + 1] == ["serve"]
    if ours and serves and model.batcher is not None:
        argv += [
            f"--max-batch-size={model.batcher.max_batch_size}",
            f"--max-latency-ms={model.batcher.max_latency}",
        ]
    probe = container.readiness_probe
    if probe is not None and probe.http_get is not None:
        ready_path: str | None = probe.http_get.path
    else:
        ready_path = READY_PATH if ours else None
    template: dict[str, Any] = {
        "argv": argv,
        "env": env,
        "readinessPath": ready_path,
        "grpc": ours,
    }
    resources = container.resources_dict()
    if resources:  # where a replica may run (a backend that places replicas reads it)
        template["resources"] = resources
    return template


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command and args; an unknown name stays as written."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def policy_of(revision: dict[str, Any], settings: UpSettings) -> autoscaler.Policy:
    scaling = revision["spec"].get("autoscaling", {})
    return autoscaler.Policy(
        metric="rps" if scaling.get("metric") == "rps" else "concurrency",
        target=float(scaling.get("target", autoscaler.DEFAULT_CONCURRENCY_TARGET)),
        min_replicas=int(scaling.get("minScale", 1)),
        max_replicas=int(scaling.get("maxScale", 0)),
        stable_window=settings.stable_window,
        panic_window=settings.panic_window,
        scale_to_zero_grace=settings.scale_to_zero_grace,
    )
