"""A small synchronous client for the control plane's Kubernetes resource API.

The CLI speaks to `modelplane up` exactly as kubectl does: HTTPS verified against the CA in the
kubeconfig, a bearer token, URLs built from the catalogue's kinds, and Kubernetes `Status` bodies
turned into `ApiError`, so every command reports a failure the same way. Only the CLI imports
this module, inside its commands, so `modelplane --help` never loads httpx.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from modelplane.resources import catalog

POD = catalog.Kind("", "v1", "Pod", "pods", "pod", short_names=("po",))
MERGE_PATCH = "application/merge-patch+json"


class ClientError(Exception):
    """A failure the CLI reports in one line: no kubeconfig, control plane unreachable."""


@dataclass
class ApiError(Exception):
    """The API server refused a request; the fields are those of its `Status` body."""

    status_code: int
    reason: str
    message: str
    causes: list[tuple[str, str]] = field(default_factory=list)  # (field path, message)
    kind: str = ""
    name: str = ""

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        return cls.from_status(body if isinstance(body, dict) else {}, response.status_code)

    @classmethod
    def from_status(cls, body: dict[str, Any], status_code: int = 0) -> ApiError:
        details = body.get("details") or {}
        causes = [(c.get("field", ""), c.get("message", "")) for c in details.get("causes") or []]
        return cls(
            status_code=int(body.get("code") or status_code),
            reason=str(body.get("reason") or "Unknown"),
            message=str(body.get("message") or f"the server answered {status_code}"),
            causes=causes,
            kind=str(details.get("kind") or ""),
            name=str(details.get("name") or ""),
        )


@dataclass(frozen=True)
class Config:
    """What a command needs of a kubeconfig: the server, its CA, the token, the namespace."""

    server: str
    token: str | None = None
    ca_pem: str | None = None
    insecure: bool = False
    namespace: str = "default"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception an httpx error wraps (an OSError, an SSL verification error)."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def kubeconfig_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """`--kubeconfig` if given, else `$MODELPLANE_HOME/kubeconfig` (home: ./.modelplane)."""
    if explicit:
        return Path(explicit)
    return Path(environ.get("MODELPLANE_HOME") or ".modelplane") / "kubeconfig"


_REWRITE = "restart `modelplane up` to write it again, or pass --kubeconfig"


def _named(path: Path, entries: Any, name: str, key: str) -> dict[str, Any]:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key) or {}
            if not isinstance(value, dict):
                raise _malformed(path, f"{key} {name!r} is not a mapping")
            return value
    if not name:
        raise _malformed(
            path,
            f"it names no current {key}" if key == "context" else f"its context names no {key}",
        )
    raise _malformed(path, f"it names {key} {name!r} but does not define it")


def _malformed(path: Path, what: str) -> ClientError:
    return ClientError(f"the kubeconfig {path} is malformed ({what}): {_REWRITE}")


def _read(path: Path, what: str, kubeconfig: Path) -> str:
    """A file the kubeconfig is or names (`what`), its faults worded for the user."""
    try:
        return path.read_text()
    except FileNotFoundError:
        if path == kubeconfig:
            raise ClientError(
                f"no kubeconfig at {path}: start the control plane with `modelplane up` "
                "(it writes one there), or pass --kubeconfig"
            ) from None
        reason = "no such file"
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
    named = "" if path == kubeconfig else f", named in the kubeconfig {kubeconfig},"
    raise ClientError(f"cannot read the {what} {path}{named} ({reason}): {_REWRITE}")


def load_config(path: Path) -> Config:
    """The current context's cluster and user, as kubectl reads them; any fault is a
    `ClientError` of one line that names the file and what to do."""
    try:
        document = yaml.safe_load(_read(path, "kubeconfig", path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ClientError(f"the kubeconfig {path} is not valid YAML{where}: {_REWRITE}") from None
    if not isinstance(document, dict):
        raise _malformed(path, "not a mapping of clusters, users and contexts")
    context = _named(
        path, document.get("contexts"), str(document.get("current-context", "")), "context"
    )
    cluster = _named(path, document.get("clusters"), str(context.get("cluster", "")), "cluster")
    user = _named(path, document.get("users"), str(context.get("user", "")), "user")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise _malformed(path, f"cluster {context.get('cluster')!r} has no https:// server")
    ca_pem = None
    if cluster.get("certificate-authority-data"):
        data = "".join(str(cluster["certificate-authority-data"]).split())
        try:
            ca_pem = base64.b64decode(data, validate=True).decode()
        except ValueError:
            raise _malformed(path, "certificate-authority-data is not base64 PEM") from None
    elif cluster.get("certificate-authority"):
        ca_file = path.parent / str(cluster["certificate-authority"])
        ca_pem = _read(ca_file, "certificate authority", path)
    if ca_pem is not None:
        try:
            ssl.create_default_context(cadata=ca_pem)
        except (ssl.SSLError, ValueError):
            raise _malformed(path, "its certificate authority is not a PEM certificate") from None
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read(Path(str(user["tokenFile"])), "token file", path).strip()
    return Config(
        server=server,
        token=str(token) if token else None,
        ca_pem=ca_pem,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=str(context.get("namespace") or "default"),
    )


def resource_path(
    kind: catalog.Kind, namespace: str | None, name: str | None = None, sub: str | None = None
) -> str:
    """`/apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]`; core: `/api/v1`."""
    parts = [f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"]
    if kind.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(kind.plural)
    parts.extend(p for p in (name, sub) if p)
    return "/".join(parts)


class Client:
    """One connection pool to the API server; every method raises ApiError or ClientError."""

    def __init__(self, config: Config, *, timeout: float = 30.0) -> None:
        self.config = config
        verify: ssl.SSLContext | bool = not config.insecure
        if config.ca_pem and not config.insecure:
            verify = ssl.create_default_context(cadata=config.ca_pem)
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._http = httpx.Client(
            base_url=config.server, verify=verify, headers=headers, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.is_error:
            raise ApiError.from_response(response)
        return response.json()

    def _unreachable(self, exc: Exception) -> ClientError:
        server = self.config.server
        if isinstance(exc, httpx.TimeoutException):
            return ClientError(f"the control plane at {server} did not answer in time")
        cause = _root_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ClientError(
                f"the control plane at {server} presented a certificate the kubeconfig's CA "
                f"does not accept ({cause.verify_message}): restart `modelplane up` to write "
                "a matching kubeconfig, or pass --kubeconfig"
            )
        if isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror
        else:
            reason = str(exc) or type(exc).__name__
        return ClientError(
            f"cannot reach the control plane at {server} ({reason}): is it running? "
            "Start it with `modelplane up`"
        )

    def get(self, kind: catalog.Kind, namespace: str | None, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", resource_path(kind, namespace, name))
        return result

    def list(
        self,
        kind: catalog.Kind,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        params = {"labelSelector": label_selector, "fieldSelector": field_selector}
        result: dict[str, Any] = self.request(
            "GET",
            resource_path(kind, namespace),
            params={k: v for k, v in params.items() if v},
        )
        return result

    def create(
        self, kind: catalog.Kind, namespace: str | None, obj: dict[str, Any], **params: str
    ) -> Any:
        return self.request("POST", resource_path(kind, namespace), json=obj, params=params)

    def replace(self, kind: catalog.Kind, obj: dict[str, Any], *, sub: str | None = None) -> Any:
        meta = obj.get("metadata", {})
        path = resource_path(kind, meta.get("namespace"), meta.get("name"), sub)
        return self.request("PUT", path, json=obj)

    def patch(
        self, kind: catalog.Kind, namespace: str | None, name: str, patch: Any, **params: str
    ) -> Any:
        return self.request(
            "PATCH",
            resource_path(kind, namespace, name),
            content=json.dumps(patch),
            headers={"Content-Type": MERGE_PATCH},
            params=params,
        )

    def delete(self, kind: catalog.Kind, namespace: str | None, name: str) -> Any:
        return self.request("DELETE", resource_path(kind, namespace, name))

    def watch(
        self,
        kind: catalog.Kind,
        namespace: str | None,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        timeout: float,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (`{"type", "object"}`) until the server ends the stream or `timeout`."""
        params = {"watch": "true", "timeoutSeconds": str(max(1, int(timeout)))}
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        for line in self.stream(resource_path(kind, namespace), params, timeout=timeout + 1):
            if not line.strip():
                continue
            event: dict[str, Any] = json.loads(line)
            if event.get("type") == "ERROR":
                raise ApiError.from_status(event.get("object") or {})
            yield event

    def stream(
        self, path: str, params: dict[str, str], *, timeout: float | None = None
    ) -> Iterator[str]:
        """The lines of a streamed answer (a watch, a followed log), as they arrive."""
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(30.0, read=timeout)
            ) as response:
                if response.is_error:
                    response.read()
                    raise ApiError.from_response(response)
                yield from response.iter_lines()
        except httpx.ReadTimeout:
            return
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
