"""The kubeconfig `modelplane up` writes, and the API token in it.

kubectl, the `kubernetes` client and `modelplane` itself find the API server through the same
file: one cluster with the CA inline, one user with the bearer token, context `modelplane`.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import yaml

CONTEXT = "modelplane"


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


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
