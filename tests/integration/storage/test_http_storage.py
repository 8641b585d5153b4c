"""http:// downloads against real servers on 127.0.0.1: files, archives, errors, the cache,
and downloads cut mid-way that resume or start again."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.storage import cache, fetch, transfer
from tests.integration.storage.servers import Blob, Cut, FileServer, Status

SIZE = 1 << 20
#: 95% of the file, then the connection drops.
CUT = SIZE * 95 // 100


@pytest.fixture
def slept() -> list[float]:
    """The waits a `no_wait` retry asked for, in order, none of them slept."""
    return []


@pytest.fixture
def no_wait(slept: list[float]) -> transfer.Retry:
    """Three attempts, with waits recorded instead of slept (jitter 0: half the ceiling)."""
    return transfer.Retry(attempts=3, sleep=slept.append, jitter=lambda: 0.0)


def payload(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


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


@pytest.mark.parametrize(
    ("status", "tries"), [(403, 1), (404, 1), (408, 3), (429, 3), (500, 3), (503, 3)]
)
def test_error_statuses_are_storage_errors_with_url_and_status_retried_only_if_passing(
    file_server: FileServer, tmp_path: Path, status: int, tries: int, no_wait: transfer.Retry
) -> None:
    url = f"{file_server.url}/status/{status}/model.bin"
    with pytest.raises(errors.StorageError) as caught:
        fetch.download(url, cache_dir=tmp_path / "cache", retry=no_wait)
    assert isinstance(caught.value, errors.StorageNotFound) == (status == 404)
    assert url in str(caught.value)
    assert str(status) in str(caught.value)
    assert file_server.hits[f"/status/{status}/model.bin"] == tries
    assert ("gave up after 3 attempts" in str(caught.value)) == (tries == 3)
    assert list((tmp_path / "cache").iterdir()) == []


def test_credentials_in_the_url_stay_out_of_errors(file_server: FileServer, tmp_path: Path) -> None:
    url = file_server.url.replace("http://", "http://alice:s3cret@") + "/missing.bin"
    with pytest.raises(errors.StorageNotFound) as caught:
        fetch.download(url, cache_dir=tmp_path)
    assert "s3cret" not in str(caught.value)


def test_a_refused_connection_is_a_storage_error(
    dead_url: str, tmp_path: Path, no_wait: transfer.Retry, slept: list[float]
) -> None:
    with pytest.raises(errors.StorageError, match="reachable") as caught:
        fetch.download(f"{dead_url}/model.bin", cache_dir=tmp_path, retry=no_wait)
    assert dead_url in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)
    assert slept == [0.5, 1.0], "waits double: 1 s then 2 s, halved by jitter 0"


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


def test_a_download_cut_at_95_percent_resumes_where_it_broke_off(
    blob_server: Blob,
    tmp_path: Path,
    no_wait: transfer.Retry,
    slept: list[float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    blob_server.data = payload(1)
    blob_server.script = [Cut(CUT)]
    url = f"{blob_server.url}/model.bin"
    got = fetch.download(url, cache_dir=tmp_path, retry=no_wait, progress=True)
    assert (got / "model.bin").read_bytes() == blob_server.data
    first, second = blob_server.requests
    assert "range" not in first
    assert second["range"] == f"bytes={CUT}-"
    assert second["if-range"] == '"v1"'
    assert blob_server.sent == SIZE, "the second answer carried only the missing 5%"
    assert slept == [0.5]
    assert "1.0/1.0 MB" in capsys.readouterr().err, "the bar counted each byte once"


def test_a_server_that_ignores_range_is_read_again_from_zero(
    blob_server: Blob, tmp_path: Path, no_wait: transfer.Retry, capsys: pytest.CaptureFixture[str]
) -> None:
    blob_server.data = payload(2)
    blob_server.ranges = False
    blob_server.script = [Cut(CUT)]
    got = fetch.download(
        f"{blob_server.url}/model.bin", cache_dir=tmp_path, retry=no_wait, progress=True
    )
    assert (got / "model.bin").read_bytes() == blob_server.data
    assert len(blob_server.requests) == 2
    assert blob_server.requests[1]["range"] == f"bytes={CUT}-", "a range was worth asking"
    assert blob_server.sent == CUT + SIZE
    assert "1.0/1.0 MB" in capsys.readouterr().err, "the dropped bytes were counted back off"


def test_an_object_that_changed_between_tries_is_fetched_whole_not_spliced(
    blob_server: Blob, tmp_path: Path
) -> None:
    old, new = payload(3), payload(4)
    blob_server.data = old
    blob_server.script = [Cut(CUT)]
    # The wait between the tries is when the file changes on the server.
    changing = transfer.Retry(attempts=3, sleep=lambda _: blob_server.replace(new, '"v2"'))
    got = fetch.download(f"{blob_server.url}/model.bin", cache_dir=tmp_path, retry=changing)
    assert (got / "model.bin").read_bytes() == new
    assert blob_server.requests[1]["if-range"] == '"v1"'
    assert blob_server.sent == CUT + SIZE


def test_an_archive_cut_mid_way_resumes_and_unpacks(
    file_server: FileServer, blob_server: Blob, tmp_path: Path, no_wait: transfer.Retry
) -> None:
    blob_server.data = (file_server.root / "model.tar.gz").read_bytes()
    blob_server.script = [Cut(len(blob_server.data) // 2)]
    got = fetch.download(f"{blob_server.url}/model.tar.gz", cache_dir=tmp_path, retry=no_wait)
    assert (got / "model" / "weights.bin").read_bytes() == b"w" * 5000
    assert blob_server.sent == len(blob_server.data)


def test_an_overloaded_server_is_waited_for_as_long_as_it_asks(
    blob_server: Blob, tmp_path: Path, no_wait: transfer.Retry, slept: list[float]
) -> None:
    blob_server.data = b"model"
    blob_server.script = [Status(503, retry_after=7), Status(429)]
    got = fetch.download(f"{blob_server.url}/model.bin", cache_dir=tmp_path, retry=no_wait)
    assert (got / "model.bin").read_bytes() == b"model"
    assert slept == [7.0, 1.0]


def test_every_try_cut_gives_up_with_a_clear_error_and_caches_nothing(
    blob_server: Blob, tmp_path: Path, no_wait: transfer.Retry, slept: list[float]
) -> None:
    blob_server.data = payload(5)
    blob_server.script = [Cut(1000), Cut(1000), Cut(1000), Cut(1000)]
    url = f"{blob_server.url}/model.bin"
    with pytest.raises(errors.StorageError, match="gave up after 3 attempts") as caught:
        fetch.download(url, cache_dir=tmp_path / "cache", retry=no_wait)
    assert url in str(caught.value)
    assert len(blob_server.requests) == 3
    assert [r.get("range") for r in blob_server.requests] == [None, "bytes=1000-", "bytes=2000-"]
    assert slept == [0.5, 1.0]
    assert list((tmp_path / "cache").iterdir()) == [], "no partial file is left behind"
