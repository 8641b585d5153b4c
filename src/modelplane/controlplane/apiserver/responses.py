"""Reading request bodies and writing JSON answers the way the Kubernetes API server does.

Every failure leaves as a `Status` body; warnings from validation leave as `Warning: 299`
headers, which kubectl and the `kubernetes` client print.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response

from modelplane.controlplane import errors

JSON = "application/json"
Obj = dict[str, Any]


def json_response(body: Any, status: int = 200, warnings: Iterable[str] = ()) -> Response:
    response = Response(orjson.dumps(body), status_code=status, media_type=JSON)
    for warning in warnings:
        text = warning.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        response.headers.append("Warning", f'299 - "{text}"')
    return response


def status_response(error: errors.ApiError) -> Response:
    return json_response(error.to_status(), error.status_code)


def success(details: Obj | None = None) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details or {}}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", JSON).split(";")[0].strip().lower()


async def read_object(request: Request, *, yaml_ok: bool = True) -> Obj:
    """The body as one JSON object (YAML too when allowed); anything else is a BadRequest."""
    raw = await request.body()
    kind = media_type(request)
    if not raw.strip():
        raise errors.BadRequest("the request body is empty; an object was expected")
    try:
        if kind in ("application/yaml", "application/apply-patch+yaml") and yaml_ok:
            body = yaml.safe_load(raw)
        elif kind in (JSON, "") or kind.endswith("+json") or kind == "*/*":
            body = orjson.loads(raw)
        else:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format ({kind}) - accepted media "
                "types include: application/json, application/yaml")
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"the request body could not be decoded: {exc}") from None
    if not isinstance(body, dict):
        raise errors.BadRequest(
            f"the request body must be an object, not {type(body).__name__}")
    return body


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from None


def wants_table(request: Request) -> str | None:
    """The Table version asked for through Accept (`as=Table;v=v1;g=meta.k8s.io`), if any."""
    for offer in request.headers.get("accept", "").split(","):
        params = dict(
            part.strip().split("=", 1) for part in offer.split(";")[1:] if "=" in part)
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")
