"""The `gs://bucket/prefix` provider: Google Cloud Storage through its JSON API, with httpx.

KServe's docs seed their examples from public buckets (`gs://kfserving-examples/...`), which
answer anonymous requests, so no Google client library is needed: objects are listed with
`GET /storage/v1/b/<bucket>/o?prefix=...` (following `nextPageToken`) and each is streamed from
`.../o/<quoted name>?alt=media&generation=<listed generation>`, pinned to the generation the
listing saw so a retry never mixes two versions of an object. Requests go through
`transfer.Downloader`: retried after a dropped connection, a 5xx or a 429, and a media download
resumed with `Range` from the bytes already written. `STORAGE_EMULATOR_HOST` (what Google's own
clients and fake-gcs-server read; `host:port` means http) points the provider at an emulator or
a mirror, and `GOOGLE_OAUTH_ACCESS_TOKEN`, when set, is sent as a bearer token for private
buckets.
httpx is imported when a `gs://` URI is fetched, never when this module is.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple
from urllib.parse import quote

from modelplane.core import errors
from modelplane.storage import archive, progress, transfer, uri

if TYPE_CHECKING:
    import httpx

DEFAULT_ENDPOINT = "https://storage.googleapis.com"


class _Object(NamedTuple):
    name: str
    size: int
    #: None when a mirror lists no generation; the download then takes the current one.
    generation: str | None


class GcsProvider:
    """Downloads every object under a prefix (keeping relative paths), or one object."""

    schemes: tuple[str, ...] = ("gs",)
    caches = True

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retry: transfer.Retry | None = None,
    ) -> None:
        #: None: read `STORAGE_EMULATOR_HOST` / `GOOGLE_OAUTH_ACCESS_TOKEN` at each fetch.
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.retry = retry if retry is not None else transfer.Retry()

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        bucket, key = uri.split_authority(storage_uri)
        if not bucket:
            raise errors.StorageError(
                f"storage URI '{storage_uri}' names no bucket; write it as gs://<bucket>/<prefix>"
            )
        import httpx

        endpoint = _endpoint(self.endpoint)
        token = self.token
        if token is None:
            token = os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        checked = _Checker(storage_uri, endpoint, bool(token))
        base = f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}/o"
        try:
            with httpx.Client(headers=headers, timeout=self.timeout, follow_redirects=True) as http:
                api = transfer.Downloader(
                    http, check=checked, unreachable=checked.unreachable, retry=self.retry
                )
                objects, prefix = _listing(api, base, key, checked)
                if not objects:
                    raise errors.StorageNotFound(
                        f"no objects under '{storage_uri}' at {endpoint}; check the bucket and "
                        "prefix, and STORAGE_EMULATOR_HOST if the data is on another server"
                    )
                # One bar for the whole prefix: every object counts into the same total.
                advance = meter.track(storage_uri, sum(item.size for item in objects))

                def copy(item: _Object, out: BinaryIO) -> None:
                    params = {"alt": "media"}
                    if item.generation is not None:
                        params["generation"] = item.generation
                    api.save(
                        f"{base}/{quote(item.name, safe='')}",
                        out,
                        lambda _size: advance,
                        shown=f"gs://{bucket}/{item.name}",
                        params=params,
                    )

                _save(objects, prefix, target, storage_uri, copy)
        except httpx.HTTPError as exc:
            raise checked.unreachable(exc) from None
        return target


def _save(
    objects: list[_Object],
    prefix: str | None,
    target: Path,
    storage_uri: str,
    copy: Callable[[_Object, BinaryIO], None],
) -> None:
    """Write one object (unpacked if an archive), or each object under `prefix` at its path."""
    if prefix is None:
        only = objects[0]
        # The name came from the URI itself; its last segment is still untrusted ("a/..").
        if posixpath.basename(only.name) in ("", ".", ".."):
            raise _escape(only.name, storage_uri)
        archive.store(posixpath.basename(only.name), target, lambda out: copy(only, out))
        return
    # Every name is checked before the first byte is fetched: one bad name refuses them all.
    dests: list[tuple[_Object, Path]] = []
    for item in objects:
        try:
            dests.append((item, uri.join_inside(target, item.name[len(prefix) :])))
        except uri.Escape:
            raise _escape(item.name, storage_uri) from None
    for item, dest in dests:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as out:
            copy(item, out)


def _endpoint(given: str | None) -> str:
    endpoint = given or os.environ.get("STORAGE_EMULATOR_HOST") or DEFAULT_ENDPOINT
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    return endpoint.rstrip("/")


class _Checker:
    """Turns an error status from the JSON API into the error the user can act on."""

    def __init__(self, storage_uri: str, endpoint: str, signed: bool) -> None:
        self.storage_uri, self.endpoint, self.signed = storage_uri, endpoint, signed

    def __call__(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"'{self.storage_uri}' at {self.endpoint} answered {status}"
        if status == 404:
            raise errors.StorageNotFound(
                f"{where}: no such bucket or object; check the URI, and STORAGE_EMULATOR_HOST "
                "if the bucket is on another server"
            )
        if status in (401, 403):
            hint = (
                "the token in GOOGLE_OAUTH_ACCESS_TOKEN was refused; check that it has not "
                "expired and may read the bucket"
                if self.signed
                else "the bucket is not public; set GOOGLE_OAUTH_ACCESS_TOKEN to an OAuth "
                "access token (`gcloud auth print-access-token`) that may read it"
            )
            raise errors.StorageError(f"{where}: access refused; {hint}")
        raise errors.StorageError(
            f"{where}; check the URI, or try again later if the service is busy"
        )

    def unreachable(self, exc: httpx.HTTPError) -> errors.StorageError:
        return errors.StorageError(
            f"cannot reach '{self.storage_uri}' at {self.endpoint}: {type(exc).__name__}: {exc}; "
            "check the network, or set STORAGE_EMULATOR_HOST to a GCS emulator or mirror"
        )


def _listing(
    api: transfer.Downloader, base: str, key: str, checked: _Checker
) -> tuple[list[_Object], str | None]:
    """The objects to fetch, and the prefix they share (None: one object)."""
    found: list[_Object] = []
    params: dict[str, str] = {"prefix": key}
    while True:
        response = api.get(base, params=params)
        try:
            page: dict[str, Any] = response.json()
            found.extend(
                _Object(
                    str(i["name"]),
                    int(i.get("size", 0)),
                    str(i["generation"]) if i.get("generation") is not None else None,
                )
                for i in page.get("items", [])
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise errors.StorageError(
                f"{checked.endpoint} did not answer '{checked.storage_uri}' with a Cloud Storage "
                "object listing; check STORAGE_EMULATOR_HOST"
            ) from None
        if not page.get("nextPageToken"):
            break
        params["pageToken"] = str(page["nextPageToken"])
    exact = [item for item in found if item.name == key]
    if key and not key.endswith("/") and exact:
        return exact, None
    # "models/a" must not pull in "models/ab/...": a prefix is a directory, not a string start.
    prefix = key if not key or key.endswith("/") else key + "/"
    # Zero-byte "folder/" objects are how the console draws folders; they hold no file.
    inside = [i for i in found if i.name.startswith(prefix) and not i.name.endswith("/")]
    return inside, prefix


def _escape(name: str, storage_uri: str) -> errors.StorageError:
    return errors.StorageError(
        f"object '{name}' under '{storage_uri}' would be written outside the download "
        "directory; rename the object (GCS names may contain '..', local paths may not)"
    )
