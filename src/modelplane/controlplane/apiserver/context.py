"""What every handler of the API server shares: the store, the validation hook, the clock.

Also the checks every request of an object URL goes through: which kind the URL names, whether
the kind is writable, the request options Kubernetes defines (dryRun, fieldValidation), and the
consistency of a body with its URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from starlette.requests import Request

from modelplane.controlplane import errors, store
from modelplane.core import errors as core_errors
from modelplane.resources import catalog

Obj = dict[str, Any]
Validate = Callable[[catalog.Kind, Obj, str], tuple[Obj, list[str]]]
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


class _Cause(Protocol):
    field: str
    message: str
    reason: str


@dataclass
class Context:
    store: store.Store
    validate_hook: Validate
    now: Callable[[], datetime]
    bookmark_interval: float

    def validate(self, kind: catalog.Kind, obj: Obj, request: Request) -> tuple[Obj, list[str]]:
        """The defaulted object and warnings, or Invalid (422) with the causes."""
        mode = field_validation(request)
        try:
            return self.validate_hook(kind, obj, mode)
        except errors.ApiError:
            raise
        except Exception as exc:
            if not hasattr(exc, "causes") and not isinstance(exc, core_errors.ModelplaneError):
                raise
            causes: list[_Cause] = list(getattr(exc, "causes", None) or [])
            name = (obj.get("metadata") or {}).get("name", "")
            detail = "; ".join(f"{c.field}: {c.message}" for c in causes) or str(exc)
            raise errors.Invalid(
                f'{kind.kind}.{kind.group} "{name}" is invalid: {detail}',
                kind=kind.kind, name=str(name), group=kind.group,
                causes=[errors.Cause(c.field, c.message, c.reason) for c in causes],
            ) from None


def resolve(request: Request) -> catalog.Kind:
    params = request.path_params
    kind = catalog.by_plural(params["group"], params["version"], params["plural"])
    if kind is None:
        raise errors.NotFound(
            f"the server could not find the requested resource ({request.url.path})")
    if "namespace" in params and not kind.namespaced:
        raise errors.NotFound(f"{kind.plural} are cluster-scoped, not namespaced")
    return kind


def namespace_of(request: Request) -> str | None:
    namespace = request.path_params.get("namespace")
    return str(namespace) if namespace is not None else None


def writable(kind: catalog.Kind, request: Request) -> None:
    if not kind.user_writable:
        raise errors.MethodNotAllowed(
            f"{kind.plural}.{kind.group} are written by the control plane only; "
            f"{request.method} is not allowed", kind=kind.plural, group=kind.group)


def dry_run(request: Request, body: Obj | None = None) -> bool:
    values = request.query_params.getlist("dryRun") + list((body or {}).get("dryRun") or [])
    for value in values:
        if value != "All":
            raise errors.BadRequest(f'unsupported dryRun value "{value}": only "All" is')
    return bool(values)


def field_validation(request: Request) -> str:
    value = request.query_params.get("fieldValidation") or "Warn"
    if value not in FIELD_VALIDATION:
        raise errors.BadRequest(
            f'invalid fieldValidation "{value}": one of {", ".join(FIELD_VALIDATION)}')
    return value


def check_body(kind: catalog.Kind, body: Obj, namespace: str | None,
               name: str | None = None) -> Obj:
    """The body with apiVersion, kind and namespace as the URL says; a mismatch is BadRequest."""
    if body.get("apiVersion", kind.api_version) != kind.api_version:
        raise errors.BadRequest(
            f"the API version in the data ({body.get('apiVersion')}) does not match the "
            f"expected API version ({kind.api_version})")
    if body.get("kind", kind.kind) != kind.kind:
        raise errors.BadRequest(
            f"the kind in the data ({body.get('kind')}) does not match the expected kind "
            f"({kind.kind})")
    meta = body.get("metadata")
    if meta is None:
        meta = body["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    if kind.namespaced:
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent "
                "on the request")
        meta["namespace"] = namespace or given or "default"
    else:
        meta.pop("namespace", None)
    if name is not None:
        if meta.get("name") not in (None, name):
            raise errors.BadRequest(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})")
        meta["name"] = name
    body["apiVersion"], body["kind"] = kind.api_version, kind.kind
    return body
