"""The kubeconfig `modelplane up` writes, and reading one back for the CLI; plus the API token.

kubectl, the `kubernetes` client and `modelplane` itself find the API server through the same
file: one cluster with the CA inline, one user with the bearer token, context `modelplane`.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelplane.core import errors as core_errors

CONTEXT = "modelplane"


@dataclass(frozen=True)
class Config:
    server: str
    ca_pem: bytes
    token: str


def token(path: Path) -> str:
    """The API token stored at `path` (mode 0600), created on first use."""
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    value = secrets.token_urlsafe(32)
    _write_private(path, value + "\n")
    return value


def write(path: Path, server_url: str, ca_pem: bytes, token: str) -> None:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": server_url,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {
            "cluster": CONTEXT, "user": CONTEXT, "namespace": "default",
        }}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(document, sort_keys=False))


def read(path: Path) -> Config:
    """Server, CA and token of the current context of the kubeconfig at `path`."""
    try:
        document: Any = yaml.safe_load(path.read_text())
        current = document.get("current-context") or CONTEXT
        context = _named(document, "contexts", current)["context"]
        cluster = _named(document, "clusters", context["cluster"])["cluster"]
        user = _named(document, "users", context["user"])["user"]
        return Config(
            server=str(cluster["server"]),
            ca_pem=base64.b64decode(cluster.get("certificate-authority-data", "")),
            token=str(user.get("token", "")),
        )
    except FileNotFoundError:
        raise core_errors.ModelplaneError(
            f"no kubeconfig at {path}; is `modelplane up` running?") from None
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise core_errors.ModelplaneError(f"{path} is not a usable kubeconfig: {exc}") from None


def _named(document: Any, section: str, name: str) -> Any:
    for entry in document.get(section) or []:
        if entry.get("name") == name:
            return entry
    raise KeyError(f"{section[:-1]} {name!r}")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
