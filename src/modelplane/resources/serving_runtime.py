"""ServingRuntime and ClusterServingRuntime (`serving.kserve.io/v1alpha1`), and which one serves
a predictor, by KServe's rules.

Selection, as KServe's `GetSupportingRuntimes` does it:

- a predictor that names its `runtime` gets that one, looked up among the namespace's
  ServingRuntimes first, then the ClusterServingRuntimes; it must be enabled and support the
  model format and the protocol (its `autoSelect` does not matter);
- otherwise the candidates are the enabled, single-model runtimes with a supported format of the
  model's name (and version, when the model gives one) marked `autoSelect`, that speak the
  model's protocol (a runtime listing no protocols speaks any). Namespaced candidates come before
  cluster ones whatever their priority; within each group the highest `priority` of the format
  wins, a runtime without one comes last, and ties go to the newest, then by name.

Runtime containers take Go-template-like placeholders, `{{.Name}}` and the others the control
plane passes to `SelectedRuntime.container_for`, replaced in `args`, `command` and env values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import Field

from modelplane.core import errors
from modelplane.resources import inference_service, meta

RuntimeProtocol = Literal["v1", "v2", "grpc-v1", "grpc-v2"]
_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


class NoRuntime(errors.ModelplaneError):
    """No serving runtime can serve the predictor; the message names the format and why."""


class SupportedModelFormat(meta.Model):
    name: str
    version: str | None = None
    auto_select: bool | None = None
    priority: int | None = Field(None, ge=1)


class ServingRuntimeSpec(meta.Model):
    supported_model_formats: list[SupportedModelFormat] = Field(default_factory=list)
    multi_model: bool | None = None
    disabled: bool | None = None
    protocol_versions: list[RuntimeProtocol] = Field(default_factory=list)
    containers: list[inference_service.Container]
    worker_spec: dict[str, Any] | None = None
    grpc_endpoint: str | None = None
    grpc_data_endpoint: str | None = None
    http_data_endpoint: str | None = None
    replicas: int | None = Field(None, ge=0)
    storage_helper: dict[str, Any] | None = None
    built_in_adapter: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    carried_keys = inference_service.POD_FIELDS

    def priority(self, model_format: str) -> int | None:
        return next(
            (f.priority for f in self.supported_model_formats if f.name == model_format), None
        )

    def supports(self, model: inference_service.PredictorModel, *, explicit: bool) -> bool:
        """The format (and version) is listed, and marked autoSelect unless chosen by name."""
        for fmt in self.supported_model_formats:
            if fmt.name != model.model_format or not (explicit or fmt.auto_select):
                continue
            if model.model_format_version is None or model.model_format_version == fmt.version:
                return True
        return False

    def speaks(self, protocol: str) -> bool:
        return not self.protocol_versions or protocol in self.protocol_versions


class ServingRuntime(meta.Model):
    """Both kinds: a ClusterServingRuntime is a ServingRuntime without a namespace."""

    api_version: str
    kind: Literal["ServingRuntime", "ClusterServingRuntime"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ServingRuntimeSpec
    status: dict[str, Any] | None = None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> ServingRuntime:
        return cls.model_validate(obj)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))


@dataclass(frozen=True)
class SelectedRuntime:
    name: str
    kind: str  # "ServingRuntime" or "ClusterServingRuntime"
    spec: ServingRuntimeSpec

    def container(self) -> inference_service.Container:
        """The model server's container: `kserve-container`, else the first."""
        containers = self.spec.containers
        wanted = inference_service.PREDICTOR_CONTAINER
        return next((c for c in containers if c.name == wanted), containers[0])

    def container_for(
        self, model: inference_service.PredictorModel, values: Mapping[str, str]
    ) -> inference_service.Container:
        """The runtime's container with placeholders filled and the predictor's args appended,
        its env overriding the runtime's, and its resources replacing the runtime's if given."""
        base = self.container()
        env = {**base.env_dict(), **model.env}
        resources = model.resources or base.resources_dict()
        return inference_service.Container.model_validate(
            {
                **base.model_dump(by_alias=True, exclude_none=True),
                "command": [render(a, values) for a in base.command],
                "args": [render(a, values) for a in base.args] + list(model.args),
                "env": [{"name": k, "value": render(v, values)} for k, v in env.items()],
                "resources": resources,
            }
        )


def render(text: str, values: Mapping[str, str]) -> str:
    """`--model-name={{.Name}}` with `values["Name"]`; an unknown placeholder is a ValueError."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"runtime placeholder {{{{.{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(one, text)


def select_runtime(
    model: inference_service.PredictorModel,
    namespace: str,
    namespaced: list[dict[str, Any]],
    cluster: list[dict[str, Any]],
) -> SelectedRuntime:
    """The runtime that serves `model`, by KServe's rules (see the module's docstring)."""
    if model.model_format is None:
        raise NoRuntime("a predictor with custom containers runs them itself: it has no runtime")
    fmt = f'"{model.model_format}"' + (
        f' version "{model.model_format_version}"' if model.model_format_version else ""
    )
    protocol = model.protocol_version or "v1"
    groups = (
        _parse(namespaced, "ServingRuntime", namespace),
        _parse(cluster, "ClusterServingRuntime", None),
    )
    if model.runtime is not None:
        found = next((r for group in groups for r in group if r.name == model.runtime), None)
        if found is None:
            raise NoRuntime(
                f'no ServingRuntime in namespace "{namespace}" or ClusterServingRuntime is named '
                f'"{model.runtime}" (asked for by model format {fmt})'
            )
        if found.spec.disabled:
            raise NoRuntime(f'runtime "{found.name}" is disabled (model format {fmt})')
        if not found.spec.supports(model, explicit=True):
            raise NoRuntime(f'runtime "{found.name}" does not support model format {fmt}')
        if not found.spec.speaks(protocol):
            raise NoRuntime(
                f'runtime "{found.name}" does not support protocol "{protocol}" '
                f"(it supports {', '.join(found.spec.protocol_versions)})"
            )
        return found
    for group in groups:
        fits = [
            r for r in group
            if not r.spec.disabled and not r.spec.multi_model
            and r.spec.supports(model, explicit=False) and r.spec.speaks(protocol)
        ]  # fmt: skip
        if fits:
            return _by_priority(fits, model.model_format)[0]
    raise NoRuntime(
        f'no serving runtime supports model format {fmt} with protocol "{protocol}"; '
        "apply a ServingRuntime with autoSelect for it, or name one in predictor.model.runtime"
    )


def _parse(objs: list[dict[str, Any]], kind: str, namespace: str | None) -> list[SelectedRuntime]:
    """Runtimes as `SelectedRuntime`s, newest first then by name (KServe's list order)."""
    parsed = []
    for obj in objs:
        metadata = obj.get("metadata") or {}
        if namespace is not None and metadata.get("namespace", namespace) != namespace:
            continue
        try:
            runtime = ServingRuntime.from_object(obj)
        except pydantic.ValidationError:
            continue  # a stored runtime that no longer parses cannot serve anything
        stamp = str(metadata.get("creationTimestamp") or "")
        parsed.append((stamp, SelectedRuntime(runtime.name, kind, runtime.spec)))
    parsed.sort(key=lambda item: item[1].name)
    parsed.sort(key=lambda item: item[0], reverse=True)
    return [runtime for _, runtime in parsed]


def _by_priority(runtimes: list[SelectedRuntime], model_format: str) -> list[SelectedRuntime]:
    def key(runtime: SelectedRuntime) -> tuple[bool, int]:
        priority = runtime.spec.priority(model_format)
        return priority is None, -(priority or 0)

    return sorted(runtimes, key=key)  # stable: ties keep the newest-first order


def causes(runtime: ServingRuntime) -> list[meta.Cause]:
    """What the models cannot say about a runtime: containers, duplicates, quantities."""
    found: list[meta.Cause] = []
    if not runtime.spec.containers:
        found.append(meta.required(("spec", "containers"), "a runtime needs a container"))
    seen: set[tuple[str, str | None]] = set()
    for index, fmt in enumerate(runtime.spec.supported_model_formats):
        if (fmt.name, fmt.version) in seen:
            loc = ("spec", "supportedModelFormats", index)
            found.append(meta.duplicate(loc, f"{fmt.name}:{fmt.version or ''}".rstrip(":")))
        seen.add((fmt.name, fmt.version))
    return found + container_causes(runtime.spec.containers, ("spec", "containers"))


def container_causes(
    containers: list[inference_service.Container], at: meta.Loc
) -> list[meta.Cause]:
    found: list[meta.Cause] = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        if container.name in names:
            found.append(meta.duplicate((*at, index, "name"), container.name))
        names.add(container.name)
        if not container.image:
            found.append(meta.required((*at, index, "image")))
        found += quantity_causes(container, (*at, index))
    return found


def quantity_causes(container: inference_service.ContainerFields, at: meta.Loc) -> list[meta.Cause]:
    found: list[meta.Cause] = []
    if container.resources is None:
        return found
    for section in ("limits", "requests"):
        for resource, value in getattr(container.resources, section).items():
            try:
                meta.parse_quantity(value)
            except ValueError as exc:
                loc = (*at, "resources", section, resource)
                found.append(meta.invalid(loc, value, str(exc)))
    return found
