"""KServe's InferenceService (`serving.kserve.io/v1beta1`) as pydantic models, and its predictor
normalised to the one form the control plane acts on.

A user writes a predictor three ways, as KServe accepts them: `predictor.model` (a model format
and a storage URI; a serving runtime is chosen for it), a legacy framework key such as
`predictor.sklearn` (the same, with the format implied by the key), or `predictor.containers` (a
custom model server). `InferenceService.predictor_model()` turns any of them into a
`PredictorModel`, with the component fields (replicas, scaling, canary, batcher, logger) and
KServe's defaults, so nothing downstream looks at which form was written.

These models read what `validation.validate` accepted; they keep unknown keys aside rather than
failing, so an object stored by an older modelplane still reads.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelplane.resources import meta

Protocol = Literal["v1", "v2", "grpc-v2"]
ScaleMetric = Literal["concurrency", "rps", "cpu", "memory"]
Quantity = str | int | float

#: The legacy framework keys of `predictor`, each implying the model format of its name.
FRAMEWORKS = (
    "sklearn",
    "xgboost",
    "lightgbm",
    "onnx",
    "pytorch",
    "tensorflow",
    "triton",
    "huggingface",
    "paddle",
    "pmml",
)
#: An InferenceService's components, in the order a request meets them behind the predictor.
COMPONENTS = ("predictor", "transformer", "explainer")
#: The class `modelplane serve` runs for `spec.explainer.shap` (runtimes/shap_explainer.py).
SHAP_EXPLAINER_CLASS = "modelplane.runtimes.shap_explainer:ShapExplainer"
#: The environment variable that carries a built-in explainer's `config` (JSON).
EXPLAINER_CONFIG_ENV = "MODELPLANE_EXPLAINER_CONFIG"
#: The container KServe treats as the model server when a pod has several.
PREDICTOR_CONTAINER = "kserve-container"
#: Pod-level keys a predictor or a runtime may carry: accepted and kept, not acted on.
POD_FIELDS = frozenset(
    "volumes initContainers nodeSelector nodeName serviceAccountName serviceAccount "
    "automountServiceAccountToken affinity tolerations imagePullSecrets securityContext "
    "priorityClassName priority schedulerName hostNetwork hostIPC hostPID dnsPolicy dnsConfig "
    "runtimeClassName terminationGracePeriodSeconds topologySpreadConstraints restartPolicy "
    "enableServiceLinks shareProcessNamespace hostname subdomain overhead".split()
)


class EnvVar(meta.Model):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class ContainerPort(meta.Model):
    container_port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    host_port: int | None = None
    host_ip: str | None = Field(None, alias="hostIP")


class ResourceRequirements(meta.Model):
    limits: dict[str, Quantity] = Field(default_factory=dict)
    requests: dict[str, Quantity] = Field(default_factory=dict)
    claims: list[dict[str, Any]] | None = None


class HTTPGetAction(meta.Model):
    path: str = "/"
    port: int | str
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[dict[str, str]] | None = None


class Probe(meta.Model):
    http_get: HTTPGetAction | None = None
    tcp_socket: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    grpc: dict[str, Any] | None = None
    initial_delay_seconds: int = Field(0, ge=0)
    period_seconds: int = Field(10, ge=1)
    timeout_seconds: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)
    failure_threshold: int = Field(3, ge=1)
    termination_grace_period_seconds: int | None = None


class ContainerFields(meta.Model):
    """A Kubernetes container with every field optional (a predictor's model inlines them)."""

    name: str | None = None
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    working_dir: str | None = None
    ports: list[ContainerPort] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    env_from: list[dict[str, Any]] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: Literal["Always", "Never", "IfNotPresent"] | None = None
    security_context: dict[str, Any] | None = None

    carried_keys = frozenset(
        "resizePolicy restartPolicy volumeDevices lifecycle terminationMessagePath "
        "terminationMessagePolicy stdin stdinOnce tty".split()
    )

    def env_dict(self) -> dict[str, str]:
        """The literal environment (`valueFrom` entries need a cluster and are left out)."""
        return {e.name: e.value for e in self.env if e.value is not None}

    def resources_dict(self) -> dict[str, Any]:
        if self.resources is None:
            return {}
        return self.resources.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class Container(ContainerFields):
    """A container in a list (`predictor.containers`, a runtime's `containers`): named."""

    name: str


class PredictorExtension(ContainerFields):
    """What a framework key (`predictor.sklearn`) and `predictor.model` share."""

    storage_uri: str | None = None
    runtime_version: str | None = None
    protocol_version: Protocol | None = None
    storage: dict[str, Any] | None = None


class ModelFormat(meta.Model):
    name: str
    version: str | None = None


class ModelSpec(PredictorExtension):
    model_format: ModelFormat
    runtime: str | None = None


class Batcher(meta.Model):
    """Server-side batching; the defaults are those of KServe's batcher."""

    max_batch_size: int = Field(32, ge=1)
    max_latency: int = Field(500, ge=1)  # milliseconds
    timeout: int = Field(60, ge=1)  # seconds


class Logger(meta.Model):
    url: str | None = None
    mode: Literal["all", "request", "response"] = "all"
    metadata_headers: list[str] | None = None


class ComponentExtension(meta.Model):
    """Deployment settings of a component (KServe's ComponentExtensionSpec) and their defaults."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(0, ge=0)  # 0: no limit
    scale_target: int | None = Field(None, ge=1)
    scale_metric: ScaleMetric = "concurrency"
    container_concurrency: int = Field(0, ge=0)  # 0: unlimited
    timeout: int | None = Field(None, ge=1)  # seconds
    canary_traffic_percent: int | None = Field(None, ge=0, le=100)
    batcher: Batcher | None = None
    logger: Logger | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deployment_strategy: dict[str, Any] | None = None


class PredictorSpec(ComponentExtension):
    model: ModelSpec | None = None
    sklearn: PredictorExtension | None = None
    xgboost: PredictorExtension | None = None
    lightgbm: PredictorExtension | None = None
    onnx: PredictorExtension | None = None
    pytorch: PredictorExtension | None = None
    tensorflow: PredictorExtension | None = None
    triton: PredictorExtension | None = None
    huggingface: PredictorExtension | None = None
    paddle: PredictorExtension | None = None
    pmml: PredictorExtension | None = None
    containers: list[Container] = Field(default_factory=list)

    carried_keys = POD_FIELDS

    def implementations(self) -> list[str]:
        """The predictor forms written, by key: `model`, a framework key, `containers`."""
        found = [k for k in ("model", *FRAMEWORKS) if getattr(self, k) is not None]
        return [*found, "containers"] if self.containers else found


class TransformerSpec(ComponentExtension):
    """`spec.transformer`: a custom container (a `modelplane serve --model-class` or any
    command) that the service's traffic reaches first, and that calls the predictor."""

    containers: list[Container] = Field(default_factory=list)

    carried_keys = POD_FIELDS


class ShapExplainerSpec(ContainerFields):
    """`spec.explainer.shap`: modelplane's built-in explainer (SHAP, model-agnostic).

    `storageUri` holds the background data (`background.npy` or `.csv`, one row per sample);
    `config` its settings as strings, as KServe's explainers take them (`nsamples`).
    """

    type: Literal["KernelExplainer", "PermutationExplainer"] = "KernelExplainer"
    storage_uri: str | None = None
    runtime_version: str | None = None
    config: dict[str, str] = Field(default_factory=dict)


class ExplainerSpec(ComponentExtension):
    """`spec.explainer`: the built-in `shap` explainer or custom containers; `:explain` goes
    to it. KServe's `alibi` and `art` keys are read so that they can be refused by name."""

    shap: ShapExplainerSpec | None = None
    alibi: dict[str, Any] | None = None
    art: dict[str, Any] | None = None
    containers: list[Container] = Field(default_factory=list)

    carried_keys = POD_FIELDS

    def implementations(self) -> list[str]:
        found = [k for k in ("shap", "alibi", "art") if getattr(self, k) is not None]
        return [*found, "containers"] if self.containers else found


class InferenceServiceSpec(meta.Model):
    predictor: PredictorSpec
    transformer: TransformerSpec | None = None
    explainer: ExplainerSpec | None = None


class PredictorModel(BaseModel):
    """The predictor in one form, whichever way it was written, with KServe's defaults."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    source: str  # "model", a framework key such as "sklearn", or "containers"
    model_format: str | None
    model_format_version: str | None = None
    runtime: str | None = None
    storage_uri: str | None = None
    protocol_version: Protocol | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    containers: list[Container] = Field(default_factory=list)
    min_replicas: int = 1
    max_replicas: int = 0
    scale_target: int | None = None
    scale_metric: ScaleMetric = "concurrency"
    container_concurrency: int = 0
    timeout: int | None = None
    canary_traffic_percent: int | None = None
    batcher: Batcher | None = None
    logger: Logger | None = None


class InferenceService(meta.Object):
    kind: Literal["InferenceService"]
    spec: InferenceServiceSpec

    def components(self) -> list[str]:
        """The components present, predictor first: `predictor`, `transformer`, `explainer`."""
        return ["predictor", *(c for c in COMPONENTS[1:] if getattr(self.spec, c) is not None)]

    def component_model(self, component: str) -> PredictorModel:
        """A component in the one form the control plane acts on (`predictor_model` for the
        predictor); a transformer or explainer runs its containers or the built-in `shap`."""
        if component == "predictor":
            return self.predictor_model()
        spec: TransformerSpec | ExplainerSpec | None = getattr(self.spec, component)
        if spec is None:
            raise ValueError(f"the InferenceService has no {component}")
        extension = {
            name: getattr(spec, name)
            for name in PredictorModel.model_fields
            if name in ComponentExtension.model_fields
        }
        if isinstance(spec, ExplainerSpec) and spec.shap is not None:
            shap = spec.shap
            return PredictorModel(
                source="shap", model_format=shap.type, storage_uri=shap.storage_uri,
                args=shap.args,
                env={**shap.env_dict(), **config_env(shap.type, shap.config)},
                resources=shap.resources_dict(), **extension,
            )  # fmt: skip
        if not spec.containers:
            raise ValueError(f"the {component} names no containers")
        main = next(
            (c for c in spec.containers if c.name == PREDICTOR_CONTAINER), spec.containers[0]
        )
        env = main.env_dict()
        return PredictorModel(
            source="containers", model_format=None, storage_uri=env.get("STORAGE_URI"),
            args=main.args, env=env, resources=main.resources_dict(),
            containers=spec.containers, **extension,
        )  # fmt: skip

    def predictor_model(self) -> PredictorModel:
        predictor = self.spec.predictor
        forms = predictor.implementations()
        if not forms:
            raise ValueError("the predictor names no model, framework or containers")
        source = forms[0]
        component = {
            name: getattr(predictor, name)
            for name in PredictorModel.model_fields
            if name in ComponentExtension.model_fields
        }
        if source == "containers":
            main = next(
                (c for c in predictor.containers if c.name == PREDICTOR_CONTAINER),
                predictor.containers[0],
            )
            env = main.env_dict()
            return PredictorModel(
                source=source, model_format=None, storage_uri=env.get("STORAGE_URI"),
                args=main.args, env=env, resources=main.resources_dict(),
                containers=predictor.containers, **component,
            )  # fmt: skip
        spec: PredictorExtension = getattr(predictor, source)
        model_format, version, runtime = source, None, None
        if isinstance(spec, ModelSpec):
            model_format, version = spec.model_format.name, spec.model_format.version
            runtime = spec.runtime
        return PredictorModel(
            source=source, model_format=model_format, model_format_version=version,
            runtime=runtime, storage_uri=spec.storage_uri,
            protocol_version=spec.protocol_version or _default_protocol(source), args=spec.args,
            env=spec.env_dict(), resources=spec.resources_dict(), **component,
        )  # fmt: skip


def _default_protocol(source: str) -> Protocol:
    """KServe's: V1, but V2 for the `triton` key (Triton speaks only the V2 protocol)."""
    return "v2" if source == "triton" else "v1"


def config_env(kind: str, config: dict[str, str]) -> dict[str, str]:
    """The built-in explainer's type and `config`, as the environment that carries them."""
    return {EXPLAINER_CONFIG_ENV: json.dumps({"type": kind, **config}, sort_keys=True)}
