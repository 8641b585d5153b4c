"""gs:// downloads against a real Cloud Storage JSON API server on 127.0.0.1.

The server is a small Starlette app under uvicorn in a thread, on a socket that is already
listening before the thread starts, so no test waits on a timer. It pages listings after two
items, serves `alt=media` with an ETag and `Range: bytes=N-` (guarded by `If-Range`) as Cloud
Storage does, answers 404 for unknown buckets and objects, and 403 to anonymous requests for the
`private` bucket, as Cloud Storage does for a bucket that is not public. A test can have the
next media GET of an object cut off after some bytes, or answered with an error status.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelplane.core import errors
from modelplane.storage import cache, fetch, gcs, progress, transfer
from tests.integration.storage.servers import Cut, Status
from tests.support.models import IRIS_ROWS, train_sklearn
from tests.support.process import ServeProcess

PAGE = 2
TOKEN = "secret-token"
GENERATION = "1700000000000001"


class CutOff(Response):
    """Sends the headers of the whole answer and `after` bytes of its body, then returns, which
    makes uvicorn drop the connection (and log that the response was left incomplete)."""

    def __init__(self, after: int, body: bytes, status: int, headers: dict[str, str]) -> None:
        super().__init__(body, status, headers, "application/octet-stream")
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        body = self.body[: self.after]
        await send({"type": "http.response.body", "body": body, "more_body": True})


@dataclass
class FakeGcs:
    """Buckets of name -> bytes, and every request seen as (path, query, authorization)."""

    url: str = ""
    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    #: Object name -> what its next media GETs get, in order.
    faults: dict[str, list[Cut | Status]] = field(default_factory=dict)
    #: The Range header of each media GET (None: none), and body bytes sent for media in all.
    ranges: list[str | None] = field(default_factory=list)
    sent: int = 0

    def put_tree(self, bucket: str, prefix: str, root: Path) -> None:
        objects = self.buckets.setdefault(bucket, {})
        for path in sorted(root.rglob("*")):
            if path.is_file():
                objects[prefix + path.relative_to(root).as_posix()] = path.read_bytes()

    def media_gets(self) -> int:
        return sum(1 for _, query, _ in self.seen if query.get("alt") == "media")

    def app(self) -> Starlette:
        def denied(request: Request, bucket: str) -> Response | None:
            self.seen.append(
                (
                    request.url.path,
                    dict(request.query_params),
                    request.headers.get("authorization", ""),
                )
            )
            if bucket == "private" and request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"error": {"code": 403, "message": "Forbidden"}}, 403)
            if bucket not in self.buckets:
                return JSONResponse({"error": {"code": 404, "message": "Not Found"}}, 404)
            return None

        async def list_objects(request: Request) -> Response:
            bucket = request.path_params["bucket"]
            if (refused := denied(request, bucket)) is not None:
                return refused
            prefix = request.query_params.get("prefix", "")
            names = sorted(n for n in self.buckets[bucket] if n.startswith(prefix))
            start = int(request.query_params.get("pageToken", "0"))
            body: dict[str, object] = {"kind": "storage#objects"}
            if names[start : start + PAGE]:
                body["items"] = [
                    {"name": n, "size": str(len(self.buckets[bucket][n])), "generation": GENERATION}
                    for n in names[start : start + PAGE]
                ]
            if start + PAGE < len(names):
                body["nextPageToken"] = str(start + PAGE)
            return JSONResponse(body)

        async def get_object(request: Request) -> Response:
            bucket = request.path_params["bucket"]
            if (refused := denied(request, bucket)) is not None:
                return refused
            # The object name is one path segment, its slashes quoted, as the JSON API wants.
            raw = request.scope["raw_path"].decode().split("/o/", 1)[1]
            name = unquote(raw)
            if "/" in raw or name not in self.buckets[bucket]:
                return JSONResponse({"error": {"code": 404, "message": "No such object"}}, 404)
            data = self.buckets[bucket][name]
            if request.query_params.get("alt") != "media":
                return JSONResponse({"name": name, "size": str(len(data))})
            if request.query_params.get("generation", GENERATION) != GENERATION:
                return JSONResponse({"error": {"code": 404, "message": "No such object"}}, 404)
            faults = self.faults.get(name)
            fault = faults.pop(0) if faults else None
            if isinstance(fault, Status):
                return JSONResponse({"error": {"code": fault.code}}, fault.code)
            return self.media(request, data, fault.after if fault else None)

        return Starlette(
            routes=[
                Route("/storage/v1/b/{bucket}/o", list_objects),
                Route("/storage/v1/b/{bucket}/o/{name:path}", get_object),
            ]
        )

    def media(self, request: Request, data: bytes, cut: int | None) -> Response:
        etag = f'"{GENERATION}"'
        wanted = request.headers.get("range")
        self.ranges.append(wanted)
        start = 0
        if wanted and request.headers.get("if-range", etag) == etag:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
        headers = {"ETag": etag}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body, status = data[start:], 206 if start else 200
        self.sent += len(body) if cut is None else min(cut, len(body))
        if cut is not None:
            return CutOff(cut, body, status, headers)
        return Response(body, status, headers, "application/octet-stream")


@pytest.fixture
def fake_gcs() -> Iterator[FakeGcs]:
    state = FakeGcs()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue here until uvicorn accepts them
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(state.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def gcs_env(fake_gcs: FakeGcs, monkeypatch: pytest.MonkeyPatch) -> FakeGcs:
    """STORAGE_EMULATOR_HOST as fake-gcs-server users write it: host:port, no scheme."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url.removeprefix("http://"))
    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN", raising=False)
    return fake_gcs


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


MODEL = {
    "models/iris/model.joblib": b"joblib",
    "models/iris/meta/config.json": b"{}",
    "models/iris/meta/a b#1?.txt": b"odd name",
    "models/iris/meta/": b"",
    "models/iris-v2/model.joblib": b"other model",
    "models/irises.txt": b"not part of it",
}


def test_a_name_naming_an_object_downloads_that_object_alone(
    gcs_env: FakeGcs, tmp_path: Path
) -> None:
    gcs_env.buckets["b"] = dict(MODEL)
    got = fetch.download("gs://b/models/iris/model.joblib", cache_dir=tmp_path)
    assert tree(got) == {"model.joblib": b"joblib"}


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_prefix_downloads_every_object_below_it_across_pages(
    gcs_env: FakeGcs, tmp_path: Path, suffix: str
) -> None:
    gcs_env.buckets["b"] = dict(MODEL)
    uri = f"gs://b/models/iris{suffix}"
    got = fetch.download(uri, cache_dir=tmp_path / "cache")
    assert got == tmp_path / "cache" / cache.key(uri)
    # Neither "iris-v2/" nor "irises.txt" share the directory, only the string.
    assert tree(got) == {
        "model.joblib": b"joblib",
        "meta/config.json": b"{}",
        "meta/a b#1?.txt": b"odd name",
    }
    tokens = [q.get("pageToken") for path, q, _ in gcs_env.seen if path.endswith("/o")]
    assert len(tokens) >= 2 and tokens[0] is None and tokens[1] == str(PAGE)


def test_directory_placeholders_are_skipped(gcs_env: FakeGcs, tmp_path: Path) -> None:
    gcs_env.buckets["b"] = {"m/": b"", "m/sub/": b"", "m/sub/w.bin": b"w", "only/": b""}
    assert tree(fetch.download("gs://b/m", cache_dir=tmp_path)) == {"sub/w.bin": b"w"}
    with pytest.raises(errors.StorageNotFound, match="no objects under 'gs://b/only'"):
        fetch.download("gs://b/only", cache_dir=tmp_path)


def test_a_whole_bucket_downloads(gcs_env: FakeGcs, tmp_path: Path) -> None:
    gcs_env.buckets["b"] = {"a.bin": b"a", "d/b.bin": b"b", "d/c.bin": b"c"}
    assert tree(fetch.download("gs://b", cache_dir=tmp_path)) == {
        "a.bin": b"a",
        "d/b.bin": b"b",
        "d/c.bin": b"c",
    }


def test_nothing_there_is_storage_not_found_saying_what_to_check(
    gcs_env: FakeGcs, tmp_path: Path
) -> None:
    gcs_env.buckets["b"] = dict(MODEL)
    with pytest.raises(errors.StorageNotFound, match="check the bucket and prefix") as caught:
        fetch.download("gs://b/models/nothing-here", cache_dir=tmp_path)
    assert "gs://b/models/nothing-here" in str(caught.value)
    with pytest.raises(errors.StorageNotFound, match="no such bucket"):
        fetch.download("gs://no-such-bucket/model", cache_dir=tmp_path)


def test_a_bucket_that_is_not_public_says_how_to_give_a_token(
    gcs_env: FakeGcs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcs_env.buckets["private"] = {"m/model.joblib": b"priv"}
    with pytest.raises(errors.StorageError, match="not public") as caught:
        fetch.download("gs://private/m", cache_dir=tmp_path / "anon")
    assert "GOOGLE_OAUTH_ACCESS_TOKEN" in str(caught.value)
    assert not isinstance(caught.value, errors.StorageNotFound)
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    got = fetch.download("gs://private/m", cache_dir=tmp_path / "signed")
    assert tree(got) == {"model.joblib": b"priv"}
    assert gcs_env.seen[-1][2] == f"Bearer {TOKEN}"


def test_an_unreachable_endpoint_names_it(
    dead_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_url)
    retry = transfer.Retry(attempts=2, sleep=lambda _: None)
    with pytest.raises(errors.StorageError, match="STORAGE_EMULATOR_HOST") as caught:
        fetch.download("gs://b/m", cache_dir=tmp_path / "cache", retry=retry)
    assert dead_url in str(caught.value)
    assert "gave up after 2 attempts" in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_name_that_climbs_out_is_refused(gcs_env: FakeGcs, tmp_path: Path) -> None:
    gcs_env.buckets["b"] = {"m/0.bin": b"0", "m/a/../../../escaped.bin": b"x", "m/ok.bin": b"ok"}
    with pytest.raises(errors.StorageError, match="outside the download directory"):
        fetch.download("gs://b/m", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "escaped.bin").exists()
    assert list((tmp_path / "cache").iterdir()) == []
    assert gcs_env.media_gets() == 0


def test_an_explicit_endpoint_and_token_override_the_environment(
    fake_gcs: FakeGcs, dead_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_url)
    fake_gcs.buckets["private"] = {"model.joblib": b"priv"}
    provider = gcs.GcsProvider(endpoint=fake_gcs.url + "/", token=TOKEN)
    got = provider.fetch("gs://private/model.joblib", tmp_path, progress.Meter())
    assert tree(got) == {"model.joblib": b"priv"}


def test_progress_counts_the_bytes_of_every_object(
    gcs_env: FakeGcs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gcs_env.buckets["b"] = {"p/a.bin": b"a" * 3000, "p/b.bin": b"b" * 3000, "p/c.bin": b""}
    fetch.download("gs://b/p", cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "gs://b/p" in err and "6.0/6.0 kB" in err


def test_the_endpoint_defaults_to_google_and_takes_host_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    assert gcs._endpoint(None) == "https://storage.googleapis.com"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "localhost:4443")
    assert gcs._endpoint(None) == "http://localhost:4443"
    assert gcs._endpoint("https://mirror.example/") == "https://mirror.example"


def test_serve_predicts_from_a_gs_uri_through_the_cache(fake_gcs: FakeGcs, tmp_path: Path) -> None:
    fake_gcs.put_tree("bucket", "models/iris/", train_sklearn(tmp_path / "trained"))
    uri = "gs://bucket/models/iris"
    env = {"STORAGE_EMULATOR_HOST": fake_gcs.url}
    args = ["--model-name", "iris", "--storage-uri", uri, "--cache-dir", str(tmp_path / "cache")]
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "-1", env=env) as server:
        server.wait_ready()
        response = httpx.post(f"{server.url}/v1/models/iris:predict", json={"instances": IRIS_ROWS})
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [0, 2]}
        assert server.terminate() == 0
    assert tree(tmp_path / "cache" / cache.key(uri)) == {
        "model.joblib": (tmp_path / "trained" / "model.joblib").read_bytes()
    }
    assert fake_gcs.media_gets() == 1


@pytest.fixture
def no_wait() -> transfer.Retry:
    return transfer.Retry(attempts=3, sleep=lambda _: None)


def test_an_object_cut_mid_way_resumes_with_a_range(
    gcs_env: FakeGcs, tmp_path: Path, no_wait: transfer.Retry, capsys: pytest.CaptureFixture[str]
) -> None:
    big = random.Random(6).randbytes(300_000)
    gcs_env.buckets["b"] = {"m/big.bin": big, "m/small.bin": b"small"}
    gcs_env.faults["m/big.bin"] = [Cut(285_000)]
    got = fetch.download("gs://b/m", cache_dir=tmp_path, retry=no_wait, progress=True)
    assert tree(got) == {"big.bin": big, "small.bin": b"small"}
    assert gcs_env.ranges == [None, "bytes=285000-", None]
    assert gcs_env.sent == len(big) + len(b"small"), "no byte was sent twice"
    media = [q for _, q, _ in gcs_env.seen if q.get("alt") == "media"]
    assert all(q["generation"] == GENERATION for q in media), "every try read one generation"
    assert "300.0/300.0 kB" in capsys.readouterr().err


def test_a_busy_service_is_retried_and_a_listing_too(
    gcs_env: FakeGcs, tmp_path: Path, no_wait: transfer.Retry
) -> None:
    gcs_env.buckets["b"] = {"m/model.joblib": b"joblib"}
    gcs_env.faults["m/model.joblib"] = [Status(503), Status(429)]
    got = fetch.download("gs://b/m/model.joblib", cache_dir=tmp_path, retry=no_wait)
    assert tree(got) == {"model.joblib": b"joblib"}
    assert gcs_env.media_gets() == 3


def test_an_object_cut_on_every_try_gives_up_and_caches_nothing(
    gcs_env: FakeGcs, tmp_path: Path, no_wait: transfer.Retry
) -> None:
    gcs_env.buckets["b"] = {"m/a.bin": b"a" * 10_000, "m/b.bin": b"b" * 10_000}
    gcs_env.faults["m/b.bin"] = [Cut(100)] * 3
    with pytest.raises(errors.StorageError, match="gave up after 3 attempts") as caught:
        fetch.download("gs://b/m", cache_dir=tmp_path / "cache", retry=no_wait)
    assert "gs://b/m" in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []
