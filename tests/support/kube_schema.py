"""A manifest checked field by field against KServe's and Kubernetes' own generated models.

`problems(obj)` deserialises a KServe object (InferenceService, ServingRuntime,
ClusterServingRuntime) the way its Python SDK's models describe it and lists every field the
cluster's schema would not take: a key the model does not know (what `kubectl apply` with
strict field validation refuses), a value of the wrong type, a required field missing. The
`kserve` package's models (`openapi_types`, `attribute_map`) are walked here; the Kubernetes
types inside them (`V1Container`, `V1ResourceRequirements`, ...) are the `kubernetes` package's
pydantic models, strict and refusing extra keys, and validate themselves.

It imports `kserve`, so only tests that may import it use it (tests/integration/kserve_client).
"""

from __future__ import annotations

import re
from typing import Any

import kserve.models
import kubernetes.client.models
import pydantic

KINDS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): "V1alpha1ClusterServingRuntime",
}
_LIST = re.compile(r"(?:list|List)\[(.+)\]")
_DICT = re.compile(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])")
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
    "datetime": (str,),
    "V1Time": (str,),
    # A Kubernetes quantity is written as a string ("2Gi") or a number.
    "ResourceQuantity": (str, int, float),
}


def problems(obj: dict[str, Any]) -> list[str]:
    """Every field of `obj` its kind's schema refuses, as `path: why`; empty if it fits."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    model = KINDS.get(key)  # type: ignore[arg-type]
    if model is None:
        return [f"{key}: not a kind this checker knows"]
    found: list[str] = []
    _check(obj, model, str(obj.get("kind")), found)
    return found


def _check(value: Any, type_name: str, path: str, found: list[str]) -> None:
    if match := _LIST.fullmatch(type_name):
        if not isinstance(value, list):
            found.append(f"{path}: must be a list, not {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(item, match.group(1), f"{path}[{index}]", found)
        return
    if match := _DICT.fullmatch(type_name):
        if not isinstance(value, dict):
            found.append(f"{path}: must be an object, not {type(value).__name__}")
            return
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(f"{path}: key {key!r} must be a string")
            _check(item, match.group(1) or match.group(2), f"{path}.{key}", found)
        return
    if type_name in _PRIMITIVES:
        allowed = _PRIMITIVES[type_name]
        if not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool)):
            found.append(f"{path}: must be {type_name}, not {type(value).__name__} {value!r}")
        return
    cls = getattr(kserve.models, type_name, None) or getattr(
        kubernetes.client.models, type_name, None
    )
    if cls is None:
        found.append(f"{path}: no model {type_name} to check it against")
    elif isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
        _validate_pydantic(value, cls, path, found)
    else:
        _check_model(value, cls, path, found)


def _check_model(value: Any, cls: Any, path: str, found: list[str]) -> None:
    """A KServe model: known keys only, each of its declared type, required ones present."""
    if not isinstance(value, dict):
        found.append(f"{path}: must be an object ({cls.__name__}), not {type(value).__name__}")
        return
    attributes = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        attr = attributes.get(key)
        if attr is None:
            found.append(f"{path}.{key}: unknown field (not in {cls.__name__})")
            continue
        _check(item, cls.openapi_types[attr], f"{path}.{key}", found)
    # The generated constructor refuses a missing required field (and some bad enum values).
    try:
        cls(**{attributes[k]: v for k, v in value.items() if k in attributes})
    except (ValueError, TypeError) as exc:
        found.append(f"{path}: {cls.__name__}: {exc}")


def _validate_pydantic(
    value: Any, cls: type[pydantic.BaseModel], path: str, found: list[str]
) -> None:
    """A Kubernetes model: its own strict validation, which refuses extra keys."""
    try:
        cls.model_validate(value)
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            found.append(f"{path}{where}: {error['msg']} ({cls.__name__})")
