"""Unpacking downloaded archives (`.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`, `.tar.xz`, `.zip`) safely.

An archive from a URL or a bucket is untrusted input. Every member is checked before anything
is written: no absolute names, no `..` out of the target, no links pointing outside it, no
member reached through a link the archive itself planted (the classic "link to `.`, then
`link/../x`" trick), no device files. One bad member refuses the whole archive with
`UnsafeArchive` naming it.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from modelplane.core import errors

_SUFFIXES = {
    ".tar": "tar",
    ".tar.gz": "tar",
    ".tgz": "tar",
    ".tar.bz2": "tar",
    ".tar.xz": "tar",
    ".zip": "zip",
}


def kind(name: str) -> str | None:
    """`"tar"` or `"zip"` when the file name says it is an archive, else `None`."""
    lower = name.lower()
    for suffix, found in _SUFFIXES.items():
        if lower.endswith(suffix):
            return found
    return None


def store(name: str, target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Save one downloaded file as `target/name`, or unpack it into `target` if an archive.

    `write` streams the download into the file it is given.
    """
    if kind(name) is None:
        with (target / name).open("wb") as out:
            write(out)
        return
    # The archive itself must not end up among the model files, so it waits next to them.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".archive-") as spool:
        path = Path(spool) / name
        with path.open("wb") as out:
            write(out)
        unpack(path, target)


def unpack(archive: Path, target: Path) -> None:
    """Extract `archive` into the existing directory `target`, refusing unsafe members."""
    found = kind(archive.name)
    try:
        if found == "tar":
            _unpack_tar(archive, target)
        elif found == "zip":
            _unpack_zip(archive, target)
        else:
            raise errors.StorageError(f"'{archive.name}' is not a .tar, .tar.gz, .tgz or .zip")
    except (tarfile.ReadError, tarfile.CompressionError, zipfile.BadZipFile, EOFError) as exc:
        raise errors.StorageError(
            f"'{archive.name}' is not a readable {found} archive ({exc}); check the URI"
        ) from None


class _Member:
    """What the checks need to know of a tar or zip member."""

    __slots__ = ("link", "name", "special")

    def __init__(self, name: str, link: tuple[str, bool] | None, special: bool) -> None:
        self.name = name
        self.link = link  # (link target, is a hard link)
        self.special = special


def _check(archive: str, members: list[_Member]) -> list[str]:
    """The members' clean relative names; `UnsafeArchive` on the first unsafe member.

    All symlink names are collected first, so a member is refused for stepping through a link
    even when the link comes later in the archive.
    """

    def refuse(member: str, why: str) -> errors.UnsafeArchive:
        return errors.UnsafeArchive(
            f"archive '{archive}' is unsafe: member '{member}' {why}; refusing to unpack it"
        )

    def walk(member: str, path: str, links: set[str]) -> str:
        if path.startswith(("/", "\\")):
            raise refuse(member, f"has or points to the absolute path '{path}'")
        parts: list[str] = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            here = "/".join(parts)
            if here in links:
                raise refuse(member, f"goes through the link '{here}' in the same archive")
            if part != "..":
                parts.append(part)
            elif parts:
                parts.pop()
            else:
                raise refuse(member, "points outside the target with '..'")
        return "/".join(parts)

    names = [walk(m.name, m.name, set()) for m in members]
    seen = Counter(names)
    links = {n for n, m in zip(names, members, strict=True) if m.link and not m.link[1]}
    for name, member in zip(names, members, strict=True):
        walk(member.name, member.name, links)
        if member.special:
            raise refuse(member.name, "is a device, fifo or other special file")
        if member.link is None:
            continue
        if not name:
            raise refuse(member.name, "is a link in place of the target itself")
        if name in links and seen[name] > 1:
            raise refuse(member.name, "shares its name with a link, so it would write through it")
        target, hard = member.link
        if target.startswith(("/", "\\")):
            raise refuse(member.name, f"links to the absolute path '{target}'")
        # A symlink is read from its own directory, a hard link from the archive root.
        base = "" if hard else name.rpartition("/")[0]
        walk(member.name, f"{base}/{target}" if base else target, links)
    return names


def _unpack_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        infos = tar.getmembers()
        _check(
            archive.name,
            [
                _Member(
                    i.name,
                    (i.linkname, i.islnk()) if i.issym() or i.islnk() else None,
                    not (i.isfile() or i.isdir() or i.issym() or i.islnk()),
                )
                for i in infos
            ],
        )
        try:
            if hasattr(tarfile, "data_filter"):
                # The stdlib "data" filter re-checks against the real file system as it extracts.
                tar.extractall(target, members=infos, filter="data")
            else:  # Python before 3.11.4: the checks above are all there is.
                tar.extractall(target, members=infos)
        except tarfile.FilterError as exc:
            raise errors.UnsafeArchive(
                f"archive '{archive.name}' is unsafe: member '{exc.tarinfo.name}' {exc}; "
                "refusing to unpack it"
            ) from None


def _unpack_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        links = {
            i.filename: zf.read(i).decode("utf-8")
            for i in infos
            if stat.S_ISLNK(i.external_attr >> 16)
        }
        members = [
            _Member(i.filename, (links[i.filename], False) if i.filename in links else None, False)
            for i in infos
        ]
        names = _check(archive.name, members)
        # Links are made last so that no file is ever written through one.
        for info, name in zip(infos, names, strict=True):
            dest = target / name if name else target
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            elif info.filename not in links:
                if not name:
                    raise errors.UnsafeArchive(
                        f"archive '{archive.name}' is unsafe: member '{info.filename}' "
                        "is a file in place of the target directory"
                    )
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
        for info, name in zip(infos, names, strict=True):
            if info.filename in links:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                (target / name).symlink_to(links[info.filename])
