"""`hf://owner/model[:revision]` from a local Hugging Face cache laid out as the Hub's tools
write it; offline, a model missing from the cache is an error that says how to get it there."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.storage import hf, progress, registry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD = "fedcba9876543210fedcba9876543210fedcba98"


def snapshot(cache: Path, repo: str, commit: str, refs: dict[str, str] | None = None) -> Path:
    """A repository in the cache, as `huggingface_hub` writes it."""
    root = cache / ("models--" + repo.replace("/", "--"))
    path = root / "snapshots" / commit
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    for ref, target in (refs or {}).items():
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / ref).write_text(target + "\n")
    return path


def fetch(uri: str, environ: dict[str, str]) -> Path:
    provider = hf.HuggingFaceProvider(environ)
    return provider.fetch(uri, Path("/unused"), progress.Meter())


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hub"


def test_main_is_the_commit_refs_main_names(cache: Path) -> None:
    current = snapshot(cache, "owner/model", COMMIT, {"main": COMMIT})
    snapshot(cache, "owner/model", OLD)

    assert fetch("hf://owner/model", {"HF_HUB_CACHE": str(cache)}) == current


def test_a_revision_is_a_ref_or_a_commit(cache: Path) -> None:
    old = snapshot(cache, "owner/model", OLD, {"v1": OLD})
    snapshot(cache, "owner/model", COMMIT, {"main": COMMIT})
    env = {"HF_HUB_CACHE": str(cache)}

    assert fetch("hf://owner/model:v1", env) == old
    assert fetch(f"hf://owner/model:{OLD}", env) == old


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HF_HUB_CACHE": "/c/hub"}, "/c/hub"),
        ({"HF_HOME": "/h"}, "/h/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({"HF_HUB_CACHE": "/c/hub", "HF_HOME": "/h"}, "/c/hub"),
    ],
)
def test_the_cache_is_found_as_huggingface_hub_finds_it(
    environ: dict[str, str], expected: str
) -> None:
    assert hf.cache_root(environ) == Path(expected)


def test_offline_a_missing_model_says_how_to_get_it(cache: Path) -> None:
    environ = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

    with pytest.raises(errors.StorageNotFound) as caught:
        fetch("hf://owner/missing", environ)

    message = str(caught.value)
    assert "'owner/missing'" in message and str(cache) in message
    assert "not in the local Hugging Face cache" in message
    assert "hf download owner/missing" in message and "HF_HUB_CACHE" in message


def test_offline_a_missing_revision_is_not_found(cache: Path) -> None:
    snapshot(cache, "owner/model", COMMIT, {"main": COMMIT})
    environ = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "true"}

    with pytest.raises(errors.StorageNotFound, match="revision 'v2'"):
        fetch("hf://owner/model:v2", environ)


@pytest.mark.parametrize("uri", ["hf://model-only", "hf://a/b/c", "hf://", "hf://owner/"])
def test_a_uri_that_names_no_model_is_refused(uri: str) -> None:
    with pytest.raises(errors.StorageError, match="hf://owner/model"):
        fetch(uri, {"HF_HUB_OFFLINE": "1"})


def test_the_registry_serves_hf_uris(tmp_path: Path) -> None:
    providers = registry.create_registry(pvc_root=tmp_path)

    assert isinstance(providers.for_uri("hf://owner/model"), hf.HuggingFaceProvider)
    assert "hf" in providers.schemes
