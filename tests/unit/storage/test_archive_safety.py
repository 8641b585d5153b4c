"""Archive unpacking: good archives land whole, any escaping member refuses the archive."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.storage import archive

# (name, kind, payload) where kind is "file", "dir", "sym", "hard" or "fifo"; payload is the
# file's bytes or the link's target.
Member = tuple[str, str, str]


def make_tar(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            data = b""
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, payload in members:
            if kind == "sym":
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, payload)
            elif kind == "dir":
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(name, payload)
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An archive directory and an empty target inside a sandbox, so escapes are visible."""
    src = tmp_path / "src"
    target = tmp_path / "sandbox" / "target"
    src.mkdir()
    target.mkdir(parents=True)
    return src, target


GOOD: list[Member] = [
    ("./", "dir", ""),
    ("model/", "dir", ""),
    ("model/weights.bin", "file", "w"),
    ("model/config.json", "file", "{}"),
    ("model/latest", "sym", "weights.bin"),
    ("model/copy.bin", "hard", "model/weights.bin"),
]


@pytest.mark.parametrize("name", ["m.tar", "m.tar.gz", "m.tgz"])
def test_a_good_tar_unpacks_with_its_internal_links(dirs: tuple[Path, Path], name: str) -> None:
    src, target = dirs
    archive.unpack(make_tar(src / name, GOOD), target)
    assert (target / "model" / "weights.bin").read_text() == "w"
    assert (target / "model" / "latest").is_symlink()
    assert (target / "model" / "latest").read_text() == "w"
    assert (target / "model" / "copy.bin").read_text() == "w"


def test_a_good_zip_unpacks_with_dirs_and_internal_links(dirs: tuple[Path, Path]) -> None:
    src, target = dirs
    members: list[Member] = [
        ("model", "dir", ""),
        ("model/a/b.txt", "file", "b"),
        ("model/link", "sym", "a/b.txt"),
    ]
    archive.unpack(make_zip(src / "m.zip", members), target)
    assert (target / "model" / "a" / "b.txt").read_text() == "b"
    assert (target / "model" / "link").is_symlink()
    assert (target / "model" / "link").read_text() == "b"


UNSAFE: list[tuple[str, list[Member]]] = [
    ("../evil", [("../evil", "file", "x")]),
    ("a/../../evil", [("a/../../evil", "file", "x")]),
    ("/tmp/evil-abs", [("/tmp/evil-abs", "file", "x")]),
    ("up", [("up", "sym", "../../outside")]),
    ("abs", [("abs", "sym", "/etc/passwd")]),
    ("deep/up", [("deep/up", "sym", "../..")]),
    # A link to "." is harmless alone; stepping through it with ".." is the escape.
    ("here/../evil", [("here", "sym", "."), ("here/../evil", "file", "x")]),
    # The same trick with the link coming after the member that uses it.
    ("x", [("x", "sym", "y/.."), ("y", "sym", ".")]),
    # A file written over a link would be written wherever the link points.
    ("dup", [("dup", "sym", "inside"), ("dup", "file", "x")]),
]


@pytest.mark.parametrize(("bad", "members"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_an_escaping_tar_member_refuses_the_archive(
    dirs: tuple[Path, Path], bad: str, members: list[Member]
) -> None:
    src, target = dirs
    tar = make_tar(src / "evil.tar", [("ok.txt", "file", "ok"), *members])
    with pytest.raises(errors.UnsafeArchive) as caught:
        archive.unpack(tar, target)
    assert f"'{bad}'" in str(caught.value)
    assert list(target.iterdir()) == [], "nothing is written when any member is refused"
    assert sorted(p.name for p in target.parent.iterdir()) == ["target"]


def test_a_hard_link_to_outside_is_refused(dirs: tuple[Path, Path]) -> None:
    src, target = dirs
    tar = make_tar(src / "evil.tar", [("h", "hard", "../../etc/passwd")])
    with pytest.raises(errors.UnsafeArchive, match="'h'"):
        archive.unpack(tar, target)


def test_a_fifo_is_refused(dirs: tuple[Path, Path]) -> None:
    src, target = dirs
    with pytest.raises(errors.UnsafeArchive, match="special file"):
        archive.unpack(make_tar(src / "evil.tar", [("pipe", "fifo", "")]), target)


@pytest.mark.parametrize(
    ("bad", "members"),
    [
        ("../evil", [("../evil", "file", "x")]),
        ("/abs/evil", [("/abs/evil", "file", "x")]),
        ("up", [("up", "sym", "../outside")]),
        ("abs", [("abs", "sym", "/etc")]),
        ("l/../../x", [("l", "sym", "."), ("l/../../x", "file", "x")]),
    ],
    ids=["dotdot", "absolute", "symlink-up", "symlink-absolute", "through-link"],
)
def test_an_escaping_zip_member_refuses_the_archive(
    dirs: tuple[Path, Path], bad: str, members: list[Member]
) -> None:
    src, target = dirs
    zf = make_zip(src / "evil.zip", [("ok.txt", "file", "ok"), *members])
    with pytest.raises(errors.UnsafeArchive) as caught:
        archive.unpack(zf, target)
    assert f"'{bad}'" in str(caught.value)
    assert list(target.iterdir()) == []


def test_a_corrupt_archive_is_a_storage_error_not_a_crash(dirs: tuple[Path, Path]) -> None:
    src, target = dirs
    (src / "broken.tar.gz").write_bytes(b"not gzip at all")
    (src / "broken.zip").write_bytes(b"not a zip")
    for name in ("broken.tar.gz", "broken.zip"):
        with pytest.raises(errors.StorageError, match="not a readable"):
            archive.unpack(src / name, target)


def test_store_keeps_plain_files_and_unpacks_archives_without_keeping_them(
    dirs: tuple[Path, Path],
) -> None:
    src, target = dirs
    archive.store("model.joblib", target, lambda out: out.write(b"joblib"))
    assert (target / "model.joblib").read_bytes() == b"joblib"

    tgz = make_tar(src / "m.tgz", [("inner.txt", "file", "inner")]).read_bytes()
    other = target.parent / "other"
    other.mkdir()
    archive.store("m.tgz", other, lambda out: out.write(tgz))
    assert sorted(p.name for p in other.iterdir()) == ["inner.txt"]
    assert sorted(p.name for p in other.parent.iterdir()) == ["other", "target"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.tar", "tar"), ("a.TAR.GZ", "tar"), ("a.tgz", "tar"), ("a.zip", "zip"), ("a.pt", None)],
)
def test_kind_is_read_from_the_file_name(name: str, kind: str | None) -> None:
    assert archive.kind(name) == kind
