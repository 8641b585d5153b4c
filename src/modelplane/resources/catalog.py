"""The kinds the control plane serves, as the Kubernetes API names them.

One table feeds discovery, the OpenAPI documents, URL routing, `kubectl get` columns and the
CLI's short names, so a kind is described once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KSERVE_GROUP = "serving.kserve.io"
KNATIVE_GROUP = "serving.knative.dev"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
REVISION_LABEL = "serving.knative.dev/revision"


@dataclass(frozen=True)
class Column:
    """One `kubectl get` column: a header, its OpenAPI type and a JSONPath into the object."""

    name: str
    type: str
    json_path: str
    priority: int = 0  # 1: only with -o wide, as Kubernetes' additionalPrinterColumns


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True
    has_status: bool = True
    columns: tuple[Column, ...] = field(default=())
    # False for kinds only the control plane writes (revisions): the API refuses writes.
    user_writable: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def group_version(self) -> str:
        return self.api_version


_AGE = Column("Age", "date", ".metadata.creationTimestamp")

INFERENCE_SERVICE = Kind(
    KSERVE_GROUP,
    "v1beta1",
    "InferenceService",
    "inferenceservices",
    "inferenceservice",
    short_names=("isvc",),
    columns=(
        Column("URL", "string", ".status.url"),
        Column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        Column("Prev", "integer", '.status.components.predictor.traffic[?(@.tag=="prev")].percent'),
        Column(
            "Latest",
            "integer",
            ".status.components.predictor.traffic[?(@.latestRevision==true)].percent",
        ),
        Column(
            "PrevRolledoutRevision",
            "string",
            ".status.components.predictor.previousRolledoutRevision",
            priority=1,
        ),
        Column(
            "LatestReadyRevision",
            "string",
            ".status.components.predictor.latestReadyRevision",
            priority=1,
        ),
        _AGE,
    ),
)

SERVING_RUNTIME = Kind(
    KSERVE_GROUP,
    "v1alpha1",
    "ServingRuntime",
    "servingruntimes",
    "servingruntime",
    has_status=False,
    columns=(
        Column("Disabled", "boolean", ".spec.disabled"),
        Column("ModelType", "string", ".spec.supportedModelFormats[*].name"),
        Column("Containers", "string", ".spec.containers[*].name"),
        _AGE,
    ),
)

CLUSTER_SERVING_RUNTIME = Kind(
    KSERVE_GROUP,
    "v1alpha1",
    "ClusterServingRuntime",
    "clusterservingruntimes",
    "clusterservingruntime",
    namespaced=False,
    has_status=False,
    columns=SERVING_RUNTIME.columns,
)

REVISION = Kind(
    KNATIVE_GROUP,
    "v1",
    "Revision",
    "revisions",
    "revision",
    short_names=("rev",),
    user_writable=False,
    columns=(
        Column("InferenceService", "string", f".metadata.labels['{ISVC_LABEL}']"),
        Column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        Column("Replicas", "integer", ".status.actualReplicas"),
        Column("Desired", "integer", ".status.desiredReplicas"),
        Column("Restarts", "integer", ".status.restarts"),
        Column("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason'),
        _AGE,
    ),
)

INFERENCE_GRAPH = Kind(
    KSERVE_GROUP,
    "v1alpha1",
    "InferenceGraph",
    "inferencegraphs",
    "inferencegraph",
    short_names=("ig",),
    columns=(  # as KServe's CRD prints them
        Column("URL", "string", ".status.url"),
        Column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        _AGE,
    ),
)

KINDS: tuple[Kind, ...] = (
    INFERENCE_SERVICE,
    INFERENCE_GRAPH,
    SERVING_RUNTIME,
    CLUSTER_SERVING_RUNTIME,
    REVISION,
)


def find(name: str) -> Kind | None:
    """The kind a user means by `name`: plural, singular, short name or Kind, any case."""
    wanted = name.lower()
    for kind in KINDS:
        names = {kind.plural, kind.singular, kind.kind.lower(), *kind.short_names}
        if wanted in names or wanted in {f"{n}.{kind.group}" for n in names}:
            return kind
    return None


def by_kind(api_version: str, kind_name: str) -> Kind | None:
    for kind in KINDS:
        if kind.api_version == api_version and kind.kind == kind_name:
            return kind
    return None


def by_plural(group: str, version: str, plural: str) -> Kind | None:
    for kind in KINDS:
        if (kind.group, kind.version, kind.plural) == (group, version, plural):
            return kind
    return None
