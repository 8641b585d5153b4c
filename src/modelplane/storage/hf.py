"""The `hf://` provider: a model from the Hugging Face Hub, found in the local Hugging Face cache.

`hf://owner/model` (or `hf://owner/model:revision`, a branch, tag or commit) resolves to the
snapshot directory the Hub's own tools keep: `<cache>/models--owner--model/snapshots/<commit>/`,
the commit read from `refs/<revision>` (default `main`). The cache is `HF_HUB_CACHE`, else
`$HF_HOME/hub`, else `~/.cache/huggingface/hub`, as in `huggingface_hub`. The snapshot is used in
place, never copied.

A model missing from the cache is downloaded there with `huggingface_hub` when it is installed
and `HF_HUB_OFFLINE` is not set; offline, the error says how to put the model into the cache.
`huggingface_hub` is imported only for that download.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from modelplane.core import errors
from modelplane.storage import progress

DEFAULT_REVISION = "main"
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_TRUE = ("1", "true", "yes", "on")


def cache_root(environ: Mapping[str, str]) -> Path:
    """Where the Hugging Face hub cache lives, by the same rules as `huggingface_hub`."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(variable):
            return Path(environ[variable]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def offline(environ: Mapping[str, str]) -> bool:
    return environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def parse(storage_uri: str) -> tuple[str, str]:
    """`("owner/model", "revision")` from `hf://owner/model[:revision]`."""
    rest = storage_uri.split("://", 1)[1].strip("/")
    repo_id, _, revision = rest.partition(":")
    if not _REPO.match(repo_id):
        raise errors.StorageError(
            f"storage URI '{storage_uri}' does not name a model; write it as "
            "hf://owner/model or hf://owner/model:revision"
        )
    return repo_id, revision or DEFAULT_REVISION


def cached_snapshot(root: Path, repo_id: str, revision: str) -> Path | None:
    """The cached snapshot of `repo_id` at `revision` (a ref name or a commit), if present."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    ref = repo / "refs" / revision
    commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else revision
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() and commit else None


class HuggingFaceProvider:
    """`hf://owner/model[:revision]` from the local Hugging Face cache (downloaded when online)."""

    schemes: tuple[str, ...] = ("hf",)
    caches = False

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        #: The environment the cache settings are read from (the process's, unless given).
        self.environ = os.environ if environ is None else environ

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        repo_id, revision = parse(storage_uri)
        root = cache_root(self.environ)
        snapshot = cached_snapshot(root, repo_id, revision)
        if snapshot is not None:
            return snapshot
        if offline(self.environ):
            raise errors.StorageNotFound(
                _not_cached(repo_id, revision, root, "HF_HUB_OFFLINE is set")
            )
        try:
            import huggingface_hub
        except ImportError:
            raise errors.StorageNotFound(
                _not_cached(repo_id, revision, root, "huggingface_hub is not installed")
            ) from None
        try:
            path = huggingface_hub.snapshot_download(repo_id, revision=revision, cache_dir=root)
        except Exception as exc:  # network, auth, unknown repo: huggingface_hub's own errors
            raise errors.StorageNotFound(
                _not_cached(repo_id, revision, root, f"downloading failed: {type(exc).__name__}")
            ) from exc
        return Path(path)


def _not_cached(repo_id: str, revision: str, root: Path, why: str) -> str:
    return (
        f"model '{repo_id}' (revision '{revision}') is not in the local Hugging Face cache "
        f"{root} and {why}; on a machine with access to the Hub run "
        f"`hf download {repo_id} --revision {revision}` (or `huggingface-cli download`) and copy "
        "its cache here, or point HF_HUB_CACHE / HF_HOME at a cache that has it"
    )
