"""Providers for files already on this machine: plain paths, `file://` and `pvc://`.

These never copy: the model is loaded where it lies, which is what a mounted volume or a
developer's checkout wants. A `pvc://claim/path` URI names a PersistentVolumeClaim as KServe
mounts it; here claims live as directories under one root (`/mnt/pvc` unless configured), and a
URI may not climb out of its claim with `..`.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelplane.core import errors
from modelplane.storage import progress, uri

PVC_ROOT_ENV = "MODELPLANE_PVC_ROOT"
DEFAULT_PVC_ROOT = Path("/mnt/pvc")


def default_pvc_root() -> Path:
    """The PVC root from `MODELPLANE_PVC_ROOT`, else `/mnt/pvc` (where KServe mounts claims)."""
    configured = os.environ.get(PVC_ROOT_ENV)
    return Path(configured) if configured else DEFAULT_PVC_ROOT


def local_path(storage_uri: str) -> Path:
    """The path a plain path or `file://` URI names (`file:///abs`, `file://relative`)."""
    raw = storage_uri[len("file://") :] if uri.scheme(storage_uri) == "file" else storage_uri
    # file://localhost/x is the RFC 8089 spelling of /x.
    if raw.startswith("localhost/"):
        raw = raw[len("localhost") :]
    if not raw:
        raise errors.StorageError(f"storage URI '{storage_uri}' names no path; check the URI")
    return Path(raw).expanduser()


class LocalProvider:
    """Plain paths and `file://`: returned in place (a directory, or a single file)."""

    schemes: tuple[str, ...] = ("", "file")
    caches = False

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        path = local_path(storage_uri)
        if not path.exists():
            origin = "" if str(path) == storage_uri else f" (from '{storage_uri}')"
            raise errors.StorageNotFound(
                f"local path '{path}'{origin} does not exist; check the URI "
                f"(relative paths are resolved from {Path.cwd()})"
            )
        return path


class PvcProvider:
    """`pvc://<claim>/<path>`: a path inside the claim's directory under the PVC root."""

    schemes: tuple[str, ...] = ("pvc",)
    caches = False

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, storage_uri: str) -> Path:
        """The local path for a pvc:// URI, without checking that it exists."""
        claim, rest = uri.split_authority(storage_uri)
        if not claim or claim in (".", ".."):
            raise errors.StorageError(
                f"storage URI '{storage_uri}' names no claim; write it as pvc://<claim>/<path>"
            )
        try:
            return uri.join_inside(self.root / claim, rest)
        except uri.Escape as exc:
            raise errors.StorageError(
                f"storage URI '{storage_uri}' leaves its claim: {exc}; "
                "a pvc:// path must stay inside the claim"
            ) from None

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        path = self.resolve(storage_uri)
        if not path.exists():
            raise errors.StorageNotFound(
                f"'{storage_uri}' resolves to '{path}', which does not exist; check the claim "
                f"and path, or point --pvc-root / {PVC_ROOT_ENV} at the directory holding "
                f"the claims (now '{self.root}')"
            )
        return path
