"""`download`: the storage room's one entry point, from a storage URI to a local path.

It picks the provider for the URI's scheme, and for remote schemes serves from the local cache
or fills it, so a model is downloaded once per cache directory however often a server restarts.
"""

from __future__ import annotations

from pathlib import Path

from modelplane.storage import cache, local, registry, transfer
from modelplane.storage import progress as bars


def download(
    uri: str,
    *,
    cache_dir: Path,
    pvc_root: Path | None = None,
    progress: bool | None = None,
    retry: transfer.Retry | None = None,
) -> Path:
    """Make the files `uri` names local and return where they are.

    - a plain path or `file://`: the path itself, in place (a directory, or a single file);
    - `pvc://<claim>/<path>`: the path under `pvc_root` (default: `MODELPLANE_PVC_ROOT`, else
      `/mnt/pvc`), in place;
    - `http(s)://`, `s3://` and `gs://`: a directory under `cache_dir` holding the downloaded
      file, the unpacked archive, or every object under the prefix; a second call finds it there.

    `progress` shows a bar while downloading: True, False, or None for "when stderr is a TTY".
    `retry` sets how `http(s)://` and `gs://` downloads retry and resume (default: 5 attempts,
    waits from 1 s doubling; see `transfer.Retry`).
    Raises `StorageNotFound` when the URI names nothing, `UnsafeArchive` for an archive member
    that would escape, and `StorageError` for everything else (unknown scheme, network, access).
    """
    providers = registry.create_registry(
        pvc_root=pvc_root if pvc_root is not None else local.default_pvc_root(), retry=retry
    )
    provider = providers.for_uri(uri)
    if not provider.caches:
        # Local files are used where they lie: there is no target and nothing to watch.
        return provider.fetch(uri, Path(cache_dir), bars.Meter())
    entry = cache.Entry(Path(cache_dir), uri)
    if entry.is_complete():
        return entry.path
    with bars.open_meter(progress) as meter:
        return entry.fill(lambda staging: provider.fetch(uri, staging, meter))
