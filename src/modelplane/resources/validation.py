"""Admission: one function that checks a whole object, applies KServe's defaults, and says why not.

`validate` is what the API server runs on every create and update (and `modelplane apply` before
it sends anything): the object is parsed by its kind's models, checked for what a type cannot say
(exactly one predictor form, a storage URI where a runtime needs one, max >= min replicas,
quantities that parse), defaulted, and returned in the user's own shape — the input dict with
defaults added, not a re-serialisation — so it round-trips through `validate` unchanged.

Unknown fields follow Kubernetes' `fieldValidation`: Strict refuses them, Warn drops them with a
warning in kubectl's words (`unknown field "spec.foo"`), Ignore drops them silently. Every
refusal is one `ResourceInvalid` holding all causes found, each with its field path and reason.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import pydantic

from modelplane.core import errors
from modelplane.resources import catalog, inference_graph, inference_service, meta, serving_runtime

Cause = meta.Cause
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "InferenceService": inference_service.InferenceService,
    "InferenceGraph": inference_graph.InferenceGraph,
    "ServingRuntime": serving_runtime.ServingRuntime,
    "ClusterServingRuntime": serving_runtime.ServingRuntime,
}


_HOSTED = (catalog.INFERENCE_SERVICE, catalog.INFERENCE_GRAPH)


class ResourceInvalid(errors.ModelplaneError):
    """The object cannot be accepted; `causes` lists every field at fault (HTTP 422)."""

    def __init__(self, kind: str, name: str, causes: list[meta.Cause], group: str = "") -> None:
        what = f"{kind}.{group}" if group else kind
        details = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        joined = details[0] if len(details) == 1 else "[" + ", ".join(details) + "]"
        super().__init__(f'{what} "{name}" is invalid: {joined}')
        self.kind = kind
        self.name = name
        self.causes = causes


def validate(
    obj: dict[str, Any], *, field_validation: str = "Strict"
) -> tuple[dict[str, Any], list[str]]:
    """The object with KServe's defaults applied, and warnings; raises `ResourceInvalid`."""
    if field_validation not in FIELD_VALIDATION:
        raise ValueError(f"fieldValidation must be one of {', '.join(FIELD_VALIDATION)}")
    kind_name = str(obj.get("kind", ""))
    metadata = obj.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    kind = catalog.by_kind(str(obj.get("apiVersion", "")), kind_name)
    if kind is None:
        supported = sorted({k.kind for k in catalog.KINDS})
        raise ResourceInvalid(kind_name, name, [meta.not_supported(["kind"], kind_name, supported)])
    out = copy.deepcopy(obj)
    causes = _metadata_causes(kind, out.get("metadata"))
    warnings: list[str] = []
    model_class = _MODELS.get(kind.kind)
    if model_class is not None:
        try:
            model = model_class.model_validate(out)
        except pydantic.ValidationError as exc:
            raise ResourceInvalid(
                kind.kind, name, causes + _pydantic_causes(exc, out), kind.group
            ) from None
        for loc in sorted(meta.unknown_fields(model), key=lambda loc: _position(out, loc)):
            if field_validation == "Strict":
                causes.append(meta.unknown(loc))
                continue
            if field_validation == "Warn":
                warnings.append(f'unknown field "{meta.path(loc)}"')
            _drop(out, loc)
        if isinstance(model, inference_service.InferenceService):
            more, notes = _isvc_causes(model)
            causes += more
            warnings += notes
            _default_isvc(out)
        elif isinstance(model, serving_runtime.ServingRuntime):
            causes += serving_runtime.causes(model)
        elif isinstance(model, inference_graph.InferenceGraph):
            causes += inference_graph.causes(model)
    if causes:
        raise ResourceInvalid(kind.kind, name, causes, kind.group)
    return out, warnings


def _metadata_causes(kind: catalog.Kind, metadata: Any) -> list[meta.Cause]:
    if not isinstance(metadata, dict):
        return [meta.required(["metadata"])]
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and not (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            return [meta.invalid(["metadata", field], value, "must map strings to strings")]
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or meta.label_errors(namespace)):
        return [meta.invalid(["metadata", "namespace"], namespace, "must be a DNS-1123 label")]
    name = metadata.get("name")
    if not name:
        prefix = metadata.get("generateName")
        if prefix:
            # The generated name is the prefix and 5 characters; it must be a valid name too.
            sample = f"{prefix}abcde" if isinstance(prefix, str) else None
            if sample is None or meta.label_errors(sample):
                return [meta.invalid(["metadata", "generateName"], prefix,
                                     "must be the start of a DNS-1123 label")]  # fmt: skip
            return []
        return [meta.required(["metadata", "name"], "name or generateName is required")]
    if not isinstance(name, str):
        return [meta.invalid(["metadata", "name"], name, "must be a string")]
    problems = meta.label_errors(name)
    if kind in _HOSTED and not problems and not name[0].isalpha():
        problems.append(f"an {kind.kind} name must start with a letter (it becomes a host)")
    return [meta.invalid(["metadata", "name"], name, "; ".join(problems))] if problems else []


def _names_hub_model(args: Sequence[str]) -> bool:
    """KServe's huggingfaceserver loads from the Hub by `--model_id` when there is no storage."""
    return any(arg == "--model_id" or arg.startswith("--model_id=") for arg in args)


def _isvc_causes(isvc: inference_service.InferenceService) -> tuple[list[meta.Cause], list[str]]:
    predictor = isvc.spec.predictor
    at = ("spec", "predictor")
    causes: list[meta.Cause] = []
    warnings: list[str] = []
    forms = predictor.implementations()
    choices = ", ".join(["model", *inference_service.FRAMEWORKS, "containers"])
    if not forms:
        causes.append(meta.required(at, f"exactly one of [{choices}] must be specified"))
    elif len(forms) > 1:
        detail = f"exactly one of [{choices}] must be specified, not several"
        causes.append(meta.invalid(at, forms, detail))
    for form in forms:
        if form == "containers":
            causes += serving_runtime.container_causes(predictor.containers, (*at, "containers"))
            continue
        spec: inference_service.PredictorExtension = getattr(predictor, form)
        if isinstance(spec, inference_service.ModelSpec) and not spec.model_format.name:
            causes.append(meta.required((*at, form, "modelFormat", "name")))
        if not spec.storage_uri and not _names_hub_model(spec.args or ()):
            detail = "the model server needs a storage URI to load the model from"
            if spec.storage is not None:
                detail += "; modelplane reads storageUri, not storage"
            causes.append(meta.required((*at, form, "storageUri"), detail))
        causes += serving_runtime.quantity_causes(spec, (*at, form))
    more, notes = _scaling_causes(predictor, at)
    causes += more
    warnings += notes
    if isvc.spec.transformer is not None:
        more, notes = _transformer_causes(isvc.spec.transformer)
        causes += more
        warnings += notes
    if isvc.spec.explainer is not None:
        more, notes = _explainer_causes(isvc.spec.explainer)
        causes += more
        warnings += notes
    return causes, warnings


def _scaling_causes(
    component: inference_service.ComponentExtension, at: meta.Loc
) -> tuple[list[meta.Cause], list[str]]:
    causes: list[meta.Cause] = []
    warnings: list[str] = []
    if component.max_replicas and component.max_replicas < component.min_replicas:
        detail = f"must be greater than or equal to minReplicas ({component.min_replicas})"
        causes.append(meta.invalid((*at, "maxReplicas"), component.max_replicas, detail))
    if component.scale_metric in ("cpu", "memory"):
        warnings.append(
            f'{meta.path(at)}.scaleMetric: "{component.scale_metric}" is accepted but not acted '
            "on: modelplane's autoscaler scales on concurrency or rps (concurrency is used)"
        )
    return causes, warnings


def _transformer_causes(
    transformer: inference_service.TransformerSpec,
) -> tuple[list[meta.Cause], list[str]]:
    at = ("spec", "transformer")
    causes: list[meta.Cause] = []
    if not transformer.containers:
        causes.append(meta.required((*at, "containers"), "a transformer runs its containers"))
    causes += serving_runtime.container_causes(transformer.containers, (*at, "containers"))
    more, warnings = _scaling_causes(transformer, at)
    return causes + more, warnings


def _explainer_causes(
    explainer: inference_service.ExplainerSpec,
) -> tuple[list[meta.Cause], list[str]]:
    at = ("spec", "explainer")
    causes: list[meta.Cause] = []
    forms = explainer.implementations()
    if not forms:
        causes.append(meta.required(at, "exactly one of [shap, containers] must be specified"))
    elif len(forms) > 1:
        detail = "exactly one of [shap, containers] must be specified, not several"
        causes.append(meta.invalid(at, forms, detail))
    for form in ("alibi", "art"):
        if form in forms:
            causes.append(
                meta.not_supported((*at, form), form, ["shap", "containers"])
            )
    if explainer.containers:
        causes += serving_runtime.container_causes(explainer.containers, (*at, "containers"))
    if explainer.shap is not None:
        causes += serving_runtime.quantity_causes(explainer.shap, (*at, "shap"))
    more, warnings = _scaling_causes(explainer, at)
    return causes + more, warnings


def _default_isvc(out: dict[str, Any]) -> None:
    """KServe's defaults, written into the user's own dict (idempotent)."""
    predictor = out["spec"]["predictor"]
    for component in inference_service.COMPONENTS:
        if isinstance(out["spec"].get(component), dict):
            out["spec"][component].setdefault("minReplicas", 1)
    for form in ("model", *inference_service.FRAMEWORKS):
        if isinstance(predictor.get(form), dict):
            predictor[form].setdefault("protocolVersion", "v1")
    if isinstance(predictor.get("logger"), dict):
        predictor["logger"].setdefault("mode", "all")


def _pydantic_causes(exc: pydantic.ValidationError, raw: dict[str, Any]) -> list[meta.Cause]:
    causes: dict[str, meta.Cause] = {}
    for error in exc.errors():
        loc, value = _real_loc(raw, error["loc"])
        kind, ctx = error["type"], error.get("ctx") or {}
        if kind == "missing":
            cause = meta.required(loc)
        elif kind == "literal_error":
            supported = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            cause = meta.not_supported(loc, value, supported)
        else:
            message = str(error["msg"]).replace("Input should be", "must be")
            message = re.sub(r" or instance of \w+", "", message).replace("dictionary", "object")
            cause = meta.invalid(loc, value, message)
        causes.setdefault(cause.field, cause)  # one cause per field (unions report each branch)
    return list(causes.values())


def _real_loc(raw: Any, loc: tuple[int | str, ...]) -> tuple[meta.Loc, Any]:
    """The error's place in the document (pydantic adds union branch names), and its value."""
    real: list[str | int] = []
    node = raw
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif index == len(loc) - 1 and isinstance(node, dict):
            node = None  # a missing key
        else:
            continue
        real.append(part)
    return tuple(real), node


def _position(raw: Any, loc: meta.Loc) -> tuple[int, ...]:
    """Where `loc` is in the document, so fields are reported in the order they were written."""
    order = []
    for part in loc:
        order.append(list(raw).index(part) if isinstance(raw, dict) else int(part))
        raw = raw[part]
    return tuple(order)


def _drop(out: dict[str, Any], loc: meta.Loc) -> None:
    node: Any = out
    for part in loc[:-1]:
        node = node[part]
    node.pop(loc[-1], None)
