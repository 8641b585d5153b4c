"""URI parsing and the containment rule every provider relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.storage import uri


@pytest.mark.parametrize(
    ("given", "scheme"),
    [
        ("/models/iris", ""),
        ("models/iris", ""),
        ("model:v1", ""),
        ("C:/models", ""),
        ("file:///models", "file"),
        ("S3://bucket/key", "s3"),
        ("pvc://claim/path", "pvc"),
        ("https://example.com/m.joblib", "https"),
        ("gs://bucket/m", "gs"),
    ],
)
def test_scheme_only_counts_the_part_before_colon_slash_slash(given: str, scheme: str) -> None:
    assert uri.scheme(given) == scheme


@pytest.mark.parametrize(
    ("given", "parts"),
    [
        ("s3://bucket/a/b/c", ("bucket", "a/b/c")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("pvc://claim/dir/model.pt", ("claim", "dir/model.pt")),
        ("s3:///key", ("", "key")),
    ],
)
def test_split_authority(given: str, parts: tuple[str, str]) -> None:
    assert uri.split_authority(given) == parts


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://h/models/model.joblib", "model.joblib"),
        ("https://h/models/model%20v1.bin?sig=abc#frag", "model v1.bin"),
        ("https://h/models/", ""),
        ("https://h", ""),
        ("https://h/a/..%2F..%2Fetc%2Fpasswd", ""),
        ("https://h/a/%2E%2E", ""),
    ],
)
def test_url_file_name_is_one_safe_segment(url: str, name: str) -> None:
    assert uri.url_file_name(url) == name


def test_redact_drops_credentials_and_keeps_the_rest() -> None:
    assert (
        uri.redact("https://me:secret@h.example:8443/m.bin?x=1")
        == "https://h.example:8443/m.bin?x=1"
    )
    assert uri.redact("https://h.example/m.bin") == "https://h.example/m.bin"
    assert uri.redact("/local/path") == "/local/path"


@pytest.mark.parametrize(
    ("name", "clean"),
    [("a/b", "a/b"), ("./a//b/", "a/b"), ("a/../b", "b"), (".", ""), ("a/..", "")],
)
def test_normalise_keeps_names_inside(name: str, clean: str) -> None:
    assert uri.normalise(name) == clean


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "\\\\server\\share"])
def test_join_inside_refuses_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(uri.Escape):
        uri.join_inside(tmp_path, name)


def test_join_inside_joins(tmp_path: Path) -> None:
    assert uri.join_inside(tmp_path, "a/./b") == tmp_path / "a" / "b"
    assert uri.join_inside(tmp_path, "") == tmp_path
