"""Local paths, file:// and pvc:// through `fetch.download`: returned in place, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.storage import fetch, local, registry


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "iris"
    path.mkdir(parents=True)
    (path / "model.joblib").write_bytes(b"model")
    return path


def test_a_plain_directory_is_returned_in_place(model_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert fetch.download(str(model_dir), cache_dir=cache) == model_dir
    assert not cache.exists(), "local paths never touch the cache"


def test_a_single_local_file_is_returned_itself(model_dir: Path, tmp_path: Path) -> None:
    file = model_dir / "model.joblib"
    assert fetch.download(str(file), cache_dir=tmp_path / "cache") == file


@pytest.mark.parametrize("form", ["file://{p}", "file://localhost{p}"])
def test_file_uris_are_returned_in_place(model_dir: Path, tmp_path: Path, form: str) -> None:
    got = fetch.download(form.format(p=model_dir), cache_dir=tmp_path / "cache")
    assert got == model_dir


def test_a_relative_file_uri_is_relative_to_the_working_directory() -> None:
    assert local.local_path("file://models/iris") == Path("models/iris")
    assert local.local_path("~/m").parts[0] != "~"


def test_a_missing_local_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    for given in (str(missing), f"file://{missing}"):
        with pytest.raises(errors.StorageNotFound, match=str(missing)):
            fetch.download(given, cache_dir=tmp_path / "cache")


def test_pvc_resolves_under_the_given_root(model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    got = fetch.download("pvc://iris/model.joblib", cache_dir=tmp_path / "c", pvc_root=root)
    assert got == model_dir / "model.joblib"
    assert fetch.download("pvc://iris", cache_dir=tmp_path / "c", pvc_root=root) == model_dir


def test_pvc_root_defaults_to_the_environment_then_mnt_pvc(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(local.PVC_ROOT_ENV, raising=False)
    assert local.default_pvc_root() == Path("/mnt/pvc")
    monkeypatch.setenv(local.PVC_ROOT_ENV, str(tmp_path / "models"))
    assert fetch.download("pvc://iris", cache_dir=tmp_path / "c") == model_dir


@pytest.mark.parametrize(
    "bad", ["pvc://iris/../other/x", "pvc://iris/a/../../other", "pvc://../etc", "pvc:///abs"]
)
def test_pvc_refuses_to_leave_the_claim(tmp_path: Path, bad: str) -> None:
    provider = local.PvcProvider(tmp_path)
    with pytest.raises(errors.StorageError, match="claim") as caught:
        provider.resolve(bad)
    assert not isinstance(caught.value, errors.StorageNotFound)


def test_a_missing_pvc_path_says_how_to_set_the_root(tmp_path: Path) -> None:
    with pytest.raises(errors.StorageNotFound, match="MODELPLANE_PVC_ROOT"):
        fetch.download("pvc://claim/model", cache_dir=tmp_path / "c", pvc_root=tmp_path)


def test_an_unknown_scheme_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(errors.StorageError) as caught:
        fetch.download("hdfs://bucket/model", cache_dir=tmp_path / "c")
    message = str(caught.value)
    supported = ("file://", "gs://", "http://", "https://", "pvc://", "s3://", "plain local path")
    for scheme in supported:
        assert scheme in message
    assert "'hdfs://'" in message


def test_the_registry_refuses_two_providers_for_one_scheme(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="claim the scheme"):
        registry.Registry([local.LocalProvider(), local.LocalProvider()])
    built = registry.create_registry(pvc_root=tmp_path)
    assert built.schemes == ("", "file", "gs", "hf", "http", "https", "pvc", "s3")
