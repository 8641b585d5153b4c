"""Real servers for the storage tests: HTTP file servers and a moto S3 server.

All listen on 127.0.0.1 on a port the OS picks. An HTTP server's socket is listening once it is
constructed, and moto's `start()` returns once its server is bound, so no test waits on a timer.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.storage import servers


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[servers.FileServer]:
    root = tmp_path / "www"
    root.mkdir()
    servers.model_tree(root)
    state = servers.FileServer(root=root, url="")
    handler = type("Handler", (servers.Handler,), {"server_state": state})
    with _serving(partial(handler, directory=str(root))) as url:
        state.url = url
        yield state


@pytest.fixture
def blob_server() -> Iterator[servers.Blob]:
    """A scripted server for one file (see `servers.Blob`); the test fills in its data."""
    blob = servers.Blob(data=b"")
    with _serving(type("Handler", (servers.BlobHandler,), {"blob": blob})) as url:
        blob.url = url
        yield blob


@contextmanager
def _serving(handler: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dead_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_endpoint: str) -> str:
    """Credentials and endpoint for the moto server, isolated from the developer's ~/.aws."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT", "S3_USE_HTTPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return moto_endpoint


@pytest.fixture(scope="module")
def s3_admin(moto_endpoint: str) -> Any:
    """A boto3 client for arranging test data, configured explicitly rather than from the env."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(aws_env: str, s3_admin: Any) -> tuple[Any, str]:
    """A fresh bucket on the moto server and the client that made it."""
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3_admin.create_bucket(Bucket=name)
    return s3_admin, name
