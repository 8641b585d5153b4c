"""The provider seam: what a storage provider is, and the registry that picks one per URI.

A provider handles one or more URI schemes. Local providers (`caches = False`) hand back a path
that already exists; remote ones (`caches = True`) write into an empty directory that the cache
owns. The registry is a plain object built by `create_registry`, never a module global, so tests
and embedders can assemble their own set of providers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from modelplane.core import errors
from modelplane.storage import gcs, hf, http, local, progress, s3, transfer, uri


class Provider(Protocol):
    """Fetches URIs of its `schemes`; `""` is the scheme of a plain local path."""

    schemes: tuple[str, ...]
    #: True when `fetch` downloads into `target` and the result belongs in the local cache.
    caches: bool

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        """Make the URI's files local and return their path.

        Remote providers fill `target` (an empty directory) and return it; local providers
        ignore `target` and return the existing path.
        """
        ...


class Registry:
    """Maps each scheme to the one provider that handles it."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self._by_scheme: dict[str, Provider] = {}
        for provider in providers:
            for name in provider.schemes:
                if name in self._by_scheme:
                    raise ValueError(f"two storage providers claim the scheme '{name}'")
                self._by_scheme[name] = provider

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_scheme))

    def for_uri(self, storage_uri: str) -> Provider:
        """The provider for `storage_uri`; `StorageError` naming the supported schemes if none."""
        name = uri.scheme(storage_uri)
        provider = self._by_scheme.get(name)
        if provider is None:
            supported = ", ".join(f"{s}://" for s in self.schemes if s)
            plain = " or a plain local path" if "" in self._by_scheme else ""
            raise errors.StorageError(
                f"storage URI '{uri.redact(storage_uri)}' has the unsupported scheme "
                f"'{name}://'; use {supported}{plain}"
            )
        return provider


def create_registry(*, pvc_root: Path, retry: transfer.Retry | None = None) -> Registry:
    """The default providers: local paths and file://, pvc://, http(s)://, s3://, gs://, hf://.

    `retry` is how http(s):// and gs:// downloads retry (default `transfer.Retry()`); boto3 and
    huggingface_hub bring their own.
    """
    return Registry(
        [
            local.LocalProvider(),
            local.PvcProvider(pvc_root),
            http.HttpProvider(retry=retry),
            s3.S3Provider(),
            gcs.GcsProvider(retry=retry),
            hf.HuggingFaceProvider(),
        ]
    )
