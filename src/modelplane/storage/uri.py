"""Parsing storage URIs and joining untrusted relative names under a root.

Every provider turns part of a URI (an S3 key, a PVC path, a URL's last segment, an archive
member) into a path on disk; the containment rule lives here once so that none of them can be
tricked into writing or reading outside the directory it was given.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Escape(ValueError):
    """A relative name would leave its root (absolute, or too many `..`)."""


def scheme(uri: str) -> str:
    """The URI's scheme in lower case; `""` for a plain path."""
    if "://" not in uri:
        # urlsplit reads "model:v1" or "C:/models" as having a scheme; only "x://" counts here.
        return ""
    return uri.split("://", 1)[0].lower()


def split_authority(uri: str) -> tuple[str, str]:
    """`("bucket", "key/rest")` from `s3://bucket/key/rest`, `("claim", "path")` from pvc://."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    head, _, tail = rest.partition("/")
    return head, tail


def url_file_name(url: str) -> str:
    """The file name a URL's path ends with, percent-decoded; `""` when it ends with `/`."""
    name = unquote(posixpath.basename(urlsplit(url).path))
    # A decoded "%2F" or a bare ".." must not turn a file name into a path.
    if "/" in name or "\\" in name or name in (".", ".."):
        return ""
    return name


def redact(url: str) -> str:
    """The URL without any `user:password@`, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host).geturl()


def normalise(name: str) -> str:
    """`name` as a clean relative POSIX path; raise `Escape` if it is absolute or climbs out.

    The result is `""` for the root itself (`"."`, `"a/.."`).
    """
    if name.startswith(("/", "\\")) or posixpath.isabs(name):
        raise Escape(f"'{name}' is an absolute path")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise Escape(f"'{name}' climbs out with '..'")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def join_inside(root: Path, name: str) -> Path:
    """`root / name` after checking that `name` stays under `root`; raise `Escape` if not."""
    clean = normalise(name)
    return root / clean if clean else root
