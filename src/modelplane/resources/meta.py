"""What every resource model shares: the pydantic base, field causes, names and quantities.

Resources are written by people in Kubernetes' camelCase; the models read them by alias and
keep Python's snake_case for attributes. The base model *allows* unknown keys and keeps them in
`model_extra`, so one parse serves both the lenient reader (`from_object`, which ignores them)
and the validator (which walks the tree with `unknown_fields` and refuses, warns or drops them as
the request's `fieldValidation` says).

`Cause` is Kubernetes' `StatusCause`: a field path, a message in Kubernetes' words
(`Required value`, `Invalid value: ...`, `Unsupported value: ...`) and a cause type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
UNKNOWN = "FieldValueUnknown"

Loc = tuple[str | int, ...]


class Model(BaseModel):
    """Base of every resource model: camelCase aliases, strict types, unknown keys kept aside.

    A subclass may name in `carried_keys` keys it accepts without modelling them (a pod's
    `affinity`, say): they stay in `model_extra` but are not reported as unknown.
    """

    carried_keys: ClassVar[frozenset[str]] = frozenset()

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        extra="allow",
        frozen=True,
        protected_namespaces=(),
        json_schema_extra=lambda schema, cls: _schema_extra(schema, cls),
    )


class Object(Model):
    """A top-level resource (InferenceService, InferenceGraph): what every kind carries besides
    its `kind` and `spec`, which the subclass declares."""

    api_version: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Self:
        """Read a stored object; raises pydantic's ValidationError (a ValueError) if malformed."""
        return cls.model_validate(obj)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")


def _schema_extra(schema: dict[str, Any], cls: type[Any]) -> None:
    """Name the carried keys in the JSON schema, so the OpenAPI document can declare them."""
    carried: frozenset[str] = getattr(cls, "carried_keys", frozenset())
    if carried:
        schema["x-carried-keys"] = sorted(carried)


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid, as Kubernetes reports it in `Status.details.causes`."""

    field: str
    message: str
    reason: str


def path(loc: Sequence[str | int]) -> str:
    """`("spec", "predictor", "containers", 0, "env")` -> `spec.predictor.containers[0].env`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def show(value: Any) -> str:
    """A value as Kubernetes prints it in a message: strings quoted, numbers bare."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def required(loc: Sequence[str | int], detail: str = "") -> Cause:
    return Cause(path(loc), "Required value" + (f": {detail}" if detail else ""), REQUIRED)


def invalid(loc: Sequence[str | int], value: Any, detail: str) -> Cause:
    return Cause(path(loc), f"Invalid value: {show(value)}: {detail}", INVALID)


def not_supported(loc: Sequence[str | int], value: Any, supported: Sequence[str]) -> Cause:
    choices = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        path(loc), f"Unsupported value: {show(value)}: supported values: {choices}", NOT_SUPPORTED
    )


def duplicate(loc: Sequence[str | int], value: Any) -> Cause:
    return Cause(path(loc), f"Duplicate value: {show(value)}", DUPLICATE)


def unknown(loc: Sequence[str | int]) -> Cause:
    return Cause(path(loc), f'unknown field "{path(loc)}"', UNKNOWN)


def unknown_fields(model: Any, loc: Loc = ()) -> Iterator[Loc]:
    """The paths of every key a parsed model tree did not declare, in document order."""
    if isinstance(model, BaseModel):
        carried = model.carried_keys if isinstance(model, Model) else frozenset()
        for key in model.model_extra or {}:
            if key not in carried:
                yield (*loc, key)
        for name, info in type(model).model_fields.items():
            yield from unknown_fields(getattr(model, name), (*loc, info.alias or name))
    elif isinstance(model, list | tuple):
        for index, item in enumerate(model):
            yield from unknown_fields(item, (*loc, index))
    elif isinstance(model, dict):
        for key, item in model.items():
            if isinstance(item, BaseModel | list):
                yield from unknown_fields(item, (*loc, key))


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def label_errors(name: str) -> list[str]:
    """Why `name` is not a DNS-1123 label (empty when it is one), in Kubernetes' words."""
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL.match(name):
        problems.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name', or "
            "'123-abc')"
        )
    return problems


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity (`"500m"`, `1`, `"2Gi"`, `"1e3"`) as a number, or ValueError."""
    if isinstance(value, bool):
        raise ValueError("quantities must match the regular expression of Kubernetes quantities")
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    if suffix[:1] in ("e", "E"):
        return base * Decimal(10) ** int(suffix[1:])
    return base * _SUFFIX[suffix]
