"""The `http://` and `https://` provider: one file, or one archive unpacked, per URL.

httpx is imported when a URL is fetched, not when this module is, so only users of this scheme
pay for it. The body is streamed to disk; redirects are followed; `user:password@` in the URL
works (httpx sends it as basic auth) and is kept out of every message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from modelplane.core import errors
from modelplane.storage import archive, progress, uri

if TYPE_CHECKING:
    import httpx

_CHUNK = 1 << 20


class HttpProvider:
    """Downloads a URL into the target directory; archives are unpacked there."""

    schemes: tuple[str, ...] = ("http", "https")
    caches = True

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        name = _file_name(storage_uri)
        try:
            import httpx
        except ImportError:
            raise errors.StorageError(
                f"fetching '{uri.redact(storage_uri)}' needs the httpx package; pip install httpx"
            ) from None
        try:
            with (
                httpx.Client(follow_redirects=True, timeout=self.timeout) as client,
                client.stream("GET", storage_uri) as response,
            ):
                _check(response, storage_uri)
                archive.store(name, target, lambda out: _copy(response, out, name, meter))
        except httpx.HTTPError as exc:
            raise errors.StorageError(
                f"cannot fetch '{uri.redact(storage_uri)}': {type(exc).__name__}: {exc}; "
                "check the URI and that the server is reachable from here"
            ) from None
        return target


def _file_name(url: str) -> str:
    name = uri.url_file_name(url)
    if not name:
        raise errors.StorageError(
            f"URL '{uri.redact(url)}' does not end with a file name; "
            "point it at the model file or at a .tar.gz/.tgz/.zip archive"
        )
    return name


def _check(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    shown = uri.redact(url)
    if status in (404, 410):
        raise errors.StorageNotFound(
            f"'{shown}' answered {status} {response.reason_phrase}: nothing is there; check the URI"
        )
    if status in (401, 403):
        raise errors.StorageError(
            f"'{shown}' answered {status} {response.reason_phrase}: access refused; "
            "put credentials in the URL (https://user:password@host/...) or make the file "
            "readable"
        )
    raise errors.StorageError(
        f"'{shown}' answered {status} {response.reason_phrase}; "
        "check the URI, or retry if the server is overloaded"
    )


def _copy(response: httpx.Response, out: BinaryIO, name: str, meter: progress.Meter) -> None:
    length = response.headers.get("content-length")
    total = int(length) if length and length.isdigit() else None
    advance = meter.track(name, total)
    # Counted on the wire (before any Content-Encoding is undone) to match Content-Length.
    seen = response.num_bytes_downloaded
    for chunk in response.iter_bytes(_CHUNK):
        out.write(chunk)
        advance(response.num_bytes_downloaded - seen)
        seen = response.num_bytes_downloaded
