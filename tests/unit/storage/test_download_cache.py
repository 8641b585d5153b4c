"""The cache entry: staged, renamed into place, marked; only a marked entry counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelplane.storage import cache


def write_model(path: Path) -> None:
    (path / "model.bin").write_bytes(b"weights")


def test_the_key_is_sixteen_hex_of_sha256() -> None:
    key = cache.key("s3://bucket/model")
    assert len(key) == 16
    assert int(key, 16) >= 0
    assert cache.key("s3://bucket/model") == key != cache.key("s3://bucket/model2")


def test_fill_publishes_the_download_and_a_marker(tmp_path: Path) -> None:
    entry = cache.Entry(tmp_path / "cache", "https://user:pw@h/model.bin")
    assert not entry.is_complete()
    path = entry.fill(write_model)
    assert path == tmp_path / "cache" / cache.key("https://user:pw@h/model.bin")
    assert (path / "model.bin").read_bytes() == b"weights"
    assert entry.is_complete()
    record = json.loads(entry.marker.read_text())
    assert record["uri"] == "https://h/model.bin", "credentials stay out of the marker"
    assert sorted(p.name for p in entry.cache_dir.iterdir()) == [entry.key, f"{entry.key}.done"]


def test_a_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    entry = cache.Entry(tmp_path, "https://h/model.bin")

    def fail(path: Path) -> None:
        write_model(path)
        raise RuntimeError("network went away")

    with pytest.raises(RuntimeError):
        entry.fill(fail)
    assert list(tmp_path.iterdir()) == []
    assert not entry.is_complete()


def test_an_unmarked_directory_is_replaced(tmp_path: Path) -> None:
    entry = cache.Entry(tmp_path, "https://h/model.bin")
    entry.path.mkdir()
    (entry.path / "half-written").write_bytes(b"")
    assert not entry.is_complete()
    entry.fill(write_model)
    assert sorted(p.name for p in entry.path.iterdir()) == ["model.bin"]


def test_losing_a_race_keeps_the_winners_copy(tmp_path: Path) -> None:
    entry = cache.Entry(tmp_path, "https://h/model.bin")
    rival = cache.Entry(tmp_path, "https://h/model.bin")

    def slow(path: Path) -> None:
        # The rival publishes while this download is still running.
        rival.fill(write_model)
        (path / "mine.bin").write_bytes(b"")

    assert entry.fill(slow) == rival.path
    assert entry.is_complete()
    assert sorted(p.name for p in entry.path.iterdir()) == ["model.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.key, f"{entry.key}.done"]
