"""s3:// downloads through boto3 against a real moto S3 server on 127.0.0.1."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelplane.core import errors
from modelplane.storage import cache, fetch

Bucket = tuple[Any, str]


def put(bucket: Bucket, objects: dict[str, bytes]) -> None:
    client, name = bucket
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


MODEL = {
    "models/iris/model.joblib": b"joblib",
    "models/iris/meta/config.json": b"{}",
    "models/iris/meta/": b"",
    "models/iris-v2/model.joblib": b"other model",
    "models/irises.txt": b"not part of it",
}


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_prefix_downloads_every_object_below_it_keeping_paths(
    bucket: Bucket, tmp_path: Path, suffix: str
) -> None:
    put(bucket, MODEL)
    uri = f"s3://{bucket[1]}/models/iris{suffix}"
    got = fetch.download(uri, cache_dir=tmp_path / "cache")
    assert got == tmp_path / "cache" / cache.key(uri)
    # Neither "iris-v2/" nor "irises.txt" share the directory, only the string.
    assert tree(got) == {"model.joblib": b"joblib", "meta/config.json": b"{}"}


def test_a_whole_bucket_downloads(bucket: Bucket, tmp_path: Path) -> None:
    put(bucket, {"a.bin": b"a", "d/b.bin": b"b"})
    got = fetch.download(f"s3://{bucket[1]}", cache_dir=tmp_path)
    assert tree(got) == {"a.bin": b"a", "d/b.bin": b"b"}


def test_a_key_naming_an_object_downloads_that_object_alone(bucket: Bucket, tmp_path: Path) -> None:
    put(bucket, MODEL)
    got = fetch.download(f"s3://{bucket[1]}/models/iris/model.joblib", cache_dir=tmp_path)
    assert tree(got) == {"model.joblib": b"joblib"}


def test_a_single_archive_object_is_unpacked(bucket: Bucket, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("model/weights.bin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"www"))
    put(bucket, {"packed/model.tar.gz": buf.getvalue()})
    got = fetch.download(f"s3://{bucket[1]}/packed/model.tar.gz", cache_dir=tmp_path)
    assert tree(got) == {"model/weights.bin": b"www"}


def test_the_cache_answers_without_the_server(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    put(bucket, MODEL)
    uri = f"s3://{bucket[1]}/models/iris"
    first = fetch.download(uri, cache_dir=tmp_path / "cache")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_url)
    assert fetch.download(uri, cache_dir=tmp_path / "cache") == first
    assert tree(first) == {"model.joblib": b"joblib", "meta/config.json": b"{}"}
    # The endpoint really is dead: without the cache the same call fails, and says what to do.
    with pytest.raises(errors.StorageError, match="AWS_ENDPOINT_URL") as caught:
        fetch.download(uri, cache_dir=tmp_path / "empty")
    assert dead_url in str(caught.value)
    assert list((tmp_path / "empty").iterdir()) == []


def test_an_empty_prefix_is_storage_not_found(bucket: Bucket, tmp_path: Path) -> None:
    put(bucket, MODEL)
    with pytest.raises(errors.StorageNotFound, match="no objects under"):
        fetch.download(f"s3://{bucket[1]}/models/nothing-here", cache_dir=tmp_path)


def test_a_missing_bucket_is_storage_not_found(aws_env: str, tmp_path: Path) -> None:
    with pytest.raises(errors.StorageNotFound, match="NoSuchBucket"):
        fetch.download("s3://no-such-bucket-anywhere/model", cache_dir=tmp_path)


def test_a_uri_without_a_bucket_says_how_to_write_it(aws_env: str, tmp_path: Path) -> None:
    with pytest.raises(errors.StorageError, match=r"s3://<bucket>/<prefix>"):
        fetch.download("s3:///model", cache_dir=tmp_path)


def test_kserve_s3_endpoint_is_honoured_when_aws_endpoint_is_unset(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    put(bucket, MODEL)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("S3_ENDPOINT", aws_env.removeprefix("http://"))
    monkeypatch.setenv("S3_USE_HTTPS", "0")
    got = fetch.download(f"s3://{bucket[1]}/models/iris/model.joblib", cache_dir=tmp_path)
    assert tree(got) == {"model.joblib": b"joblib"}


def test_a_key_that_climbs_out_is_refused(bucket: Bucket, tmp_path: Path) -> None:
    put(bucket, {"m/a/../../../escaped.bin": b"x", "m/ok.bin": b"ok"})
    with pytest.raises(errors.StorageError, match="outside the download directory"):
        fetch.download(f"s3://{bucket[1]}/m", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "escaped.bin").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_progress_counts_the_bytes_of_every_object(
    bucket: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"p/a.bin": b"a" * 3000, "p/b.bin": b"b" * 3000})
    fetch.download(f"s3://{bucket[1]}/p", cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"s3://{bucket[1]}/p" in err
    assert "6.0/6.0 kB" in err


def test_without_credentials_requests_go_unsigned(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, name = bucket
    client.put_object(Bucket=name, Key="public/model.joblib", Body=b"pub", ACL="public-read")
    client.put_object(Bucket=name, Key="private/model.joblib", Body=b"priv")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    got = fetch.download(f"s3://{name}/public/model.joblib", cache_dir=tmp_path)
    assert tree(got) == {"model.joblib": b"pub"}
    with pytest.raises(errors.StorageError, match="set AWS_ACCESS_KEY_ID"):
        fetch.download(f"s3://{name}/private/model.joblib", cache_dir=tmp_path)
