"""The `http://` and `https://` provider: one file, or one archive unpacked, per URL.

httpx is imported when a URL is fetched, not when this module is, so only users of this scheme
pay for it. The body is streamed to disk by `transfer.Downloader`, which retries a dropped
connection or a 5xx and resumes from the bytes already written where the server allows a range;
redirects are followed; `user:password@` in the URL works (httpx sends it as basic auth) and is
kept out of every message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelplane.core import errors
from modelplane.storage import archive, progress, transfer, uri

if TYPE_CHECKING:
    import httpx


class HttpProvider:
    """Downloads a URL into the target directory; archives are unpacked there."""

    schemes: tuple[str, ...] = ("http", "https")
    caches = True

    def __init__(self, *, timeout: float = 30.0, retry: transfer.Retry | None = None) -> None:
        self.timeout = timeout
        self.retry = retry if retry is not None else transfer.Retry()

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        name = _file_name(storage_uri)
        try:
            import httpx
        except ImportError:
            raise errors.StorageError(
                f"fetching '{uri.redact(storage_uri)}' needs the httpx package; pip install httpx"
            ) from None
        try:
            with httpx.Client(follow_redirects=True, timeout=self.timeout) as client:
                downloader = transfer.Downloader(
                    client,
                    check=lambda response: _check(response, storage_uri),
                    unreachable=lambda exc: _unreachable(exc, storage_uri),
                    retry=self.retry,
                )
                archive.store(
                    name,
                    target,
                    lambda out: downloader.save(
                        storage_uri,
                        out,
                        lambda total: meter.track(name, total),
                        shown=uri.redact(storage_uri),
                    ),
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc, storage_uri) from None
        return target


def _file_name(url: str) -> str:
    name = uri.url_file_name(url)
    if not name:
        raise errors.StorageError(
            f"URL '{uri.redact(url)}' does not end with a file name; "
            "point it at the model file or at a .tar.gz/.tgz/.zip archive"
        )
    return name


def _unreachable(exc: httpx.HTTPError, url: str) -> errors.StorageError:
    return errors.StorageError(
        f"cannot fetch '{uri.redact(url)}': {type(exc).__name__}: {exc}; "
        "check the URI and that the server is reachable from here"
    )


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
        "check the URI, or try again later if the server is overloaded"
    )
