"""The `s3://bucket/prefix` provider, for AWS S3 and S3-compatible servers (MinIO, Ceph, ...).

boto3 is imported inside the provider's methods, never at module import, because it is heavy and
optional (`pip install modelplane[s3]`). boto3 itself reads credentials and settings from the
usual places: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE`,
`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_CA_BUNDLE`, and the endpoint from `AWS_ENDPOINT_URL_S3`
or `AWS_ENDPOINT_URL` (botocore >= 1.31). For manifests written for KServe, `S3_ENDPOINT`
(`host:port`, with `S3_USE_HTTPS=0` for plain http) and `S3_VERIFY_SSL=0` are honoured when
neither AWS endpoint variable is set. With no credentials at all, requests go unsigned, which
is what public buckets need.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from modelplane.core import errors
from modelplane.storage import archive, progress, uri


class S3Provider:
    """Downloads every object under a prefix (keeping relative paths), or one object."""

    schemes: tuple[str, ...] = ("s3",)
    caches = True

    def fetch(self, storage_uri: str, target: Path, meter: progress.Meter) -> Path:
        bucket, key = uri.split_authority(storage_uri)
        if not bucket:
            raise errors.StorageError(
                f"storage URI '{storage_uri}' names no bucket; write it as s3://<bucket>/<prefix>"
            )
        try:
            from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
        except ImportError:
            raise errors.StorageError(
                f"fetching '{storage_uri}' needs boto3; pip install 'modelplane[s3]'"
            ) from None
        try:
            client, signed = _client()
        except (BotoCoreError, ValueError) as exc:
            raise errors.StorageError(
                f"cannot set up S3 access for '{storage_uri}': {exc}; check AWS_PROFILE and the "
                "AWS_* / S3_* variables"
            ) from None
        try:
            objects, prefix = _listing(client, bucket, key)
            if not objects:
                raise errors.StorageNotFound(
                    f"no objects under '{storage_uri}' at {client.meta.endpoint_url}; check the "
                    "bucket and prefix, and AWS_ENDPOINT_URL if the data is on another server"
                )
            advance = meter.track(storage_uri, sum(size for _, size in objects))
            if prefix is None:
                only = objects[0][0]
                archive.store(
                    posixpath.basename(only),
                    target,
                    lambda out: client.download_fileobj(bucket, only, out, Callback=advance),
                )
                return target
            for name, _ in objects:
                dest = _destination(target, name, prefix, storage_uri)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("wb") as out:
                    client.download_fileobj(bucket, name, out, Callback=advance)
        except ClientError as exc:
            raise _client_error(exc, storage_uri, client.meta.endpoint_url, signed) from None
        except EndpointConnectionError as exc:
            raise errors.StorageError(
                f"cannot reach '{storage_uri}' at {client.meta.endpoint_url}: {exc}; set "
                "AWS_ENDPOINT_URL to your S3-compatible server, or check the network"
            ) from None
        except BotoCoreError as exc:
            raise errors.StorageError(
                f"cannot fetch '{storage_uri}' from {client.meta.endpoint_url}: {exc}; check the "
                "URI, and AWS_ENDPOINT_URL if the data is on another server"
            ) from None
        return target


def _client() -> tuple[Any, bool]:
    """An S3 client and whether its requests are signed (False: no credentials anywhere)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session()
    options: dict[str, Any] = {}
    endpoint = _kserve_endpoint()
    if endpoint is not None:
        options["endpoint_url"] = endpoint
    if os.environ.get("S3_VERIFY_SSL", "").lower() in ("0", "false"):
        options["verify"] = False
    signed = session.get_credentials() is not None
    if not signed:
        options["config"] = Config(signature_version=UNSIGNED)
    return session.client("s3", **options), signed


def _kserve_endpoint() -> str | None:
    """The endpoint from KServe's `S3_ENDPOINT`, unless boto3 has one of its own variables."""
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    endpoint = os.environ.get("S3_ENDPOINT")
    if not endpoint:
        return None
    if "://" in endpoint:
        return endpoint
    plain = os.environ.get("S3_USE_HTTPS", "1").lower() in ("0", "false")
    return f"{'http' if plain else 'https'}://{endpoint}"


def _listing(client: Any, bucket: str, key: str) -> tuple[list[tuple[str, int]], str | None]:
    """The objects to fetch with their sizes, and the prefix they share (None: one object)."""
    found: list[tuple[str, int]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        found.extend((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
    exact = [item for item in found if item[0] == key]
    if key and exact:
        return exact, None
    # "models/a" must not pull in "models/ab/...": a prefix is a directory, not a string start.
    prefix = key if not key or key.endswith("/") else key + "/"
    # Zero-byte "folder/" keys are how consoles draw folders; they hold no file.
    return [item for item in found if item[0].startswith(prefix) and not item[0].endswith("/")], (
        prefix
    )


def _destination(target: Path, name: str, prefix: str, storage_uri: str) -> Path:
    try:
        return uri.join_inside(target, name[len(prefix) :])
    except uri.Escape:
        raise errors.StorageError(
            f"object '{name}' under '{storage_uri}' would be written outside the download "
            "directory; rename the object (S3 keys may contain '..', local paths may not)"
        ) from None


def _client_error(exc: Any, storage_uri: str, endpoint: str, signed: bool) -> errors.StorageError:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchBucket", "NoSuchKey", "404"):
        return errors.StorageNotFound(
            f"'{storage_uri}' does not exist at {endpoint} ({code}); check the URI, and "
            "AWS_ENDPOINT_URL if the bucket is on another server"
        )
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        hint = (
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            if signed
            else "no AWS credentials were found, so the request went unsigned; set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
        return errors.StorageError(
            f"access to '{storage_uri}' at {endpoint} refused ({code}); {hint}"
        )
    return errors.StorageError(f"fetching '{storage_uri}' from {endpoint} failed: {exc}")
