"""http:// downloads against a real server on 127.0.0.1: files, archives, errors, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.storage import cache, fetch
from tests.integration.storage.servers import FileServer


def test_a_single_file_lands_alone_in_a_cache_directory(
    file_server: FileServer, tmp_path: Path
) -> None:
    url = f"{file_server.url}/model.joblib"
    got = fetch.download(url, cache_dir=tmp_path / "cache")
    assert got == tmp_path / "cache" / cache.key(url)
    assert [p.name for p in got.iterdir()] == ["model.joblib"]
    assert (got / "model.joblib").read_bytes() == (file_server.root / "model.joblib").read_bytes()


def test_a_second_download_is_served_from_the_cache(
    file_server: FileServer, tmp_path: Path
) -> None:
    url = f"{file_server.url}/model.joblib"
    first = fetch.download(url, cache_dir=tmp_path / "cache")
    assert file_server.hits["/model.joblib"] == 1
    second = fetch.download(url, cache_dir=tmp_path / "cache")
    assert second == first
    assert file_server.hits["/model.joblib"] == 1, "no second request reached the server"
    # Another cache directory is another cache.
    fetch.download(url, cache_dir=tmp_path / "elsewhere")
    assert file_server.hits["/model.joblib"] == 2


@pytest.mark.parametrize("name", ["model.tar.gz", "model.tgz", "model.zip"])
def test_an_archive_is_unpacked_and_not_kept(
    file_server: FileServer, tmp_path: Path, name: str
) -> None:
    got = fetch.download(f"{file_server.url}/{name}", cache_dir=tmp_path / "cache")
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*")) == [
        "model",
        "model/config.json",
        "model/weights.bin",
    ]
    assert (got / "model" / "weights.bin").read_bytes() == b"w" * 5000


def test_an_unsafe_archive_is_refused_and_nothing_is_cached(
    file_server: FileServer, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(errors.UnsafeArchive, match=r"'\.\./escaped\.txt'"):
        fetch.download(f"{file_server.url}/evil.tar.gz", cache_dir=cache_dir)
    assert list(cache_dir.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


def test_redirects_are_followed(file_server: FileServer, tmp_path: Path) -> None:
    got = fetch.download(f"{file_server.url}/redirect/model.joblib", cache_dir=tmp_path)
    # The file is named after the URL asked for, which is the one the user wrote.
    assert (got / "model.joblib").is_file()
    assert file_server.hits["/model.joblib"] == 1


def test_404_is_storage_not_found(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(errors.StorageNotFound, match=r"404.*check the URI"):
        fetch.download(f"{file_server.url}/missing.bin", cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("status", [403, 500, 503])
def test_other_statuses_are_storage_errors_with_url_and_status(
    file_server: FileServer, tmp_path: Path, status: int
) -> None:
    url = f"{file_server.url}/status/{status}/model.bin"
    with pytest.raises(errors.StorageError) as caught:
        fetch.download(url, cache_dir=tmp_path)
    assert not isinstance(caught.value, errors.StorageNotFound)
    assert url in str(caught.value)
    assert str(status) in str(caught.value)


def test_credentials_in_the_url_stay_out_of_errors(file_server: FileServer, tmp_path: Path) -> None:
    url = file_server.url.replace("http://", "http://alice:s3cret@") + "/missing.bin"
    with pytest.raises(errors.StorageNotFound) as caught:
        fetch.download(url, cache_dir=tmp_path)
    assert "s3cret" not in str(caught.value)


def test_a_refused_connection_is_a_storage_error(dead_url: str, tmp_path: Path) -> None:
    with pytest.raises(errors.StorageError, match="reachable") as caught:
        fetch.download(f"{dead_url}/model.bin", cache_dir=tmp_path)
    assert dead_url in str(caught.value)


def test_a_url_without_a_file_name_says_what_to_do(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(errors.StorageError, match="does not end with a file name"):
        fetch.download(f"{file_server.url}/models/", cache_dir=tmp_path)
    assert file_server.total() == 0


def test_progress_draws_a_bar_on_stderr_when_asked(
    file_server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch.download(f"{file_server.url}/model.joblib", cache_dir=tmp_path / "a", progress=True)
    assert "model.joblib" in capsys.readouterr().err
    fetch.download(f"{file_server.url}/model.tgz", cache_dir=tmp_path / "b", progress=False)
    fetch.download(f"{file_server.url}/model.zip", cache_dir=tmp_path / "c")
    assert capsys.readouterr().err == "", "silent when not asked and stderr is no terminal"
