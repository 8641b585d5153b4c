"""What an operator sees of a running server: Prometheus metrics, request ids and the access log.

`/metrics` counts every request by model, protocol and status, times whole requests and each
model stage, and shows how many requests are being served now. Every request carries an id: the
client's `x-request-id` when it sends one, else a new one, returned in the response (a header over
REST, trailing metadata over gRPC) and written in the access log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelplane.core.model import Headers, Model
from modelplane.observability import metrics as metric_defs
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings

MODEL = "sklearn-iris"
ROW = [5.1, 3.5, 1.4, 0.2]
GENERATED_ID = re.compile(r"^[0-9a-f]{16}-[0-9]+$")
MODEL_PROTOCOLS = ("v1", "v2", "grpc")


class Staged(Model):
    """Overrides preprocess and postprocess, so all three stages run and are timed."""

    def preprocess(self, payload: Any, headers: Headers | None = None) -> Any:
        return payload

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        return [1.0, 2.0]

    def postprocess(self, result: Any, headers: Headers | None = None) -> Any:
        return result


class AsyncStaged(Model):
    """The same with coroutine hooks around a sync predict: three separate trips."""

    async def preprocess(self, payload: Any, headers: Headers | None = None) -> Any:
        return payload

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        return [1.0, 2.0]

    async def postprocess(self, result: Any, headers: Headers | None = None) -> Any:
        return result


class AsyncGate(Model):
    """An async predict that holds each request until the test opens the gate."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.arm()

    def arm(self) -> None:
        self.entered = threading.Event()
        self.gate = asyncio.Event()

    async def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        self.entered.set()
        await self.gate.wait()
        return [1.0]


class SyncGate(Model):
    """A sync predict (run in the thread pool) that holds each request until released."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.arm()

    def arm(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return [1.0]


class Hang(Model):
    """An async predict that never answers; it notes when the server cancels it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    async def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def hang() -> Hang:
    return Hang("hang")


@pytest.fixture(scope="module")
def gates() -> dict[str, AsyncGate | SyncGate]:
    return {"async-gate": AsyncGate("async-gate"), "sync-gate": SyncGate("sync-gate")}


@pytest.fixture(scope="module")
def server(
    iris_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    gates: dict[str, AsyncGate | SyncGate],
    hang: Hang,
) -> Iterator[RunningServer]:
    settings = server_settings(
        model_name=MODEL, storage_uri=str(iris_dir), cache_dir=tmp_path_factory.mktemp("cache")
    )
    models: list[Model] = [Staged("staged"), AsyncStaged("async-staged"), *gates.values(), hang]
    with serving(settings, models=models) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server: RunningServer) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


# --- helpers -----------------------------------------------------------------------------------


class Scrape:
    """One `/metrics` exposition, parsed."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = sample.value

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a labelled series that has not been touched yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return {
            key: value
            for (sample, key), value in self.samples.items()
            if sample == name and wanted <= key
        }


def scrape(http: httpx.Client) -> Scrape:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def v2_body(features: list[float] = ROW) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input-0", "shape": [1, len(features)], "datatype": "FP64", "data": features}
        ]
    }


def grpc_request(model: str = MODEL, features: list[float] = ROW) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(
        model_name=model,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="input-0",
                datatype="FP64",
                shape=[1, len(features)],
                contents=pb.InferTensorContents(fp64_contents=features),
            )
        ],
    )


def infer(
    protocol: str,
    http: httpx.Client,
    stub: pb_grpc.GRPCInferenceServiceStub,
    model: str = MODEL,
) -> None:
    """One successful inference over `protocol`."""
    if protocol == "v1":
        response = http.post(f"/v1/models/{model}:predict", json={"instances": [ROW]})
        assert response.status_code == 200, response.text
    elif protocol == "v2":
        response = http.post(f"/v2/models/{model}/infer", json=v2_body())
        assert response.status_code == 200, response.text
    else:
        assert stub.ModelInfer(grpc_request(model), timeout=30).model_name == model


def trailing(call: grpc.Call | grpc.RpcError) -> dict[str, str]:
    return {item.key: item.value for item in call.trailing_metadata() or ()}


# --- request counts and latencies --------------------------------------------------------------


def test_metric_families_have_their_types(http: httpx.Client) -> None:
    metrics = scrape(http)
    assert metrics.types["modelplane_requests"] == "counter"
    assert metrics.types["modelplane_request_duration_seconds"] == "histogram"
    assert metrics.types["modelplane_stage_duration_seconds"] == "histogram"
    assert metrics.types["modelplane_requests_in_flight"] == "gauge"


def test_requests_total_counts_exactly_the_requests_made(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    before = scrape(http)

    for _ in range(3):
        infer("v1", http, stub)
    assert (
        http.post(f"/v1/models/{MODEL}:predict", json={"instances": [ROW[:3]]}).status_code == 400
    )
    assert http.post("/v1/models/nope:predict", json={"instances": [ROW]}).status_code == 404
    for _ in range(2):
        infer("v2", http, stub)
    assert http.get(f"/v2/models/{MODEL}").status_code == 200
    unknown_datatype = {"inputs": [{**v2_body()["inputs"][0], "datatype": "FP128"}]}
    assert http.post(f"/v2/models/{MODEL}/infer", json=unknown_datatype).status_code == 400
    for _ in range(2):
        infer("grpc", http, stub)
    with pytest.raises(grpc.RpcError) as wrong_features:
        stub.ModelInfer(grpc_request(features=ROW[:3]), timeout=30)
    assert wrong_features.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as unknown:
        stub.ModelInfer(grpc_request(model="nope"), timeout=30)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    after = scrape(http)
    expected = {
        (MODEL, "v1", "200"): 3,
        (MODEL, "v1", "400"): 1,
        ("", "v1", "404"): 1,  # an unknown model name never becomes a label value
        (MODEL, "v2", "200"): 3,
        (MODEL, "v2", "400"): 1,
        (MODEL, "grpc", "OK"): 2,
        (MODEL, "grpc", "INVALID_ARGUMENT"): 1,
        ("", "grpc", "NOT_FOUND"): 1,
    }
    name = "modelplane_requests_total"
    for (model, protocol, status), count in expected.items():
        labels = {"model": model, "protocol": protocol, "status": status}
        assert after.value(name, **labels) - before.value(name, **labels) == count, labels
    for protocol in MODEL_PROTOCOLS:
        for key in after.series(name, protocol=protocol):
            assert dict(key)["model"] != "nope"

    durations = "modelplane_request_duration_seconds_count"
    for protocol, count in (("v1", 4), ("v2", 4), ("grpc", 3)):
        labels = {"model": MODEL, "protocol": protocol}
        assert after.value(durations, **labels) - before.value(durations, **labels) == count
    # predict ran for the good requests and for the wrong feature counts, which the model
    # itself refuses; not for the unknown datatype, refused while decoding.
    stage = {"model": MODEL, "stage": "predict"}
    predicted = "modelplane_stage_duration_seconds_count"
    assert after.value(predicted, **stage) - before.value(predicted, **stage) == 3 + 1 + 2 + 2 + 1


@pytest.mark.parametrize("protocol", MODEL_PROTOCOLS)
def test_request_duration_histogram(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, protocol: str
) -> None:
    infer(protocol, http, stub)
    metrics = scrape(http)
    labels = {"model": MODEL, "protocol": protocol}
    buckets = {
        dict(key)["le"]: value
        for key, value in metrics.series(
            "modelplane_request_duration_seconds_bucket", **labels
        ).items()
    }
    expected_bounds = [float(bound) for bound in metric_defs.LATENCY_BUCKETS] + [float("inf")]
    assert sorted(float(bound) for bound in buckets) == expected_bounds
    counts = [buckets[bound] for bound in sorted(buckets, key=float)]
    assert counts == sorted(counts)  # cumulative
    total = metrics.value("modelplane_request_duration_seconds_count", **labels)
    assert total >= 1
    assert buckets["+Inf"] == total
    assert metrics.value("modelplane_request_duration_seconds_sum", **labels) > 0


@pytest.mark.parametrize("model", ["staged", "async-staged"])
def test_stage_histograms_time_each_overridden_hook(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, model: str
) -> None:
    before = scrape(http)
    for protocol in MODEL_PROTOCOLS:
        infer(protocol, http, stub, model)
    after = scrape(http)
    name = "modelplane_stage_duration_seconds_count"
    for stage in ("preprocess", "predict", "postprocess"):
        labels = {"model": model, "stage": stage}
        assert after.value(name, **labels) - before.value(name, **labels) == 3, stage
        assert after.value("modelplane_stage_duration_seconds_sum", **labels) > 0
        assert after.has("modelplane_stage_duration_seconds_bucket", le="+Inf", **labels)


def test_hooks_a_model_does_not_override_are_not_timed(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    infer("v2", http, stub)
    metrics = scrape(http)
    name = "modelplane_stage_duration_seconds_count"
    assert metrics.value(name, model=MODEL, stage="predict") >= 1
    assert not metrics.has(name, model=MODEL, stage="preprocess")
    assert not metrics.has(name, model=MODEL, stage="postprocess")


# --- requests in flight ------------------------------------------------------------------------


def _start(
    protocol: str,
    model: str,
    server: RunningServer,
    pool: ThreadPoolExecutor,
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> Callable[[], None]:
    """Send one request to `model` without waiting; returns a function that awaits its answer."""
    if protocol == "grpc":
        call = stub.ModelInfer.future(grpc_request(model), timeout=30)

        def answered() -> None:
            assert call.result().model_name == model

        return answered

    def send() -> httpx.Response:
        with httpx.Client(base_url=server.http_url, timeout=30) as client:
            if protocol == "v1":
                return client.post(f"/v1/models/{model}:predict", json={"instances": [ROW]})
            return client.post(f"/v2/models/{model}/infer", json=v2_body())

    future: Future[httpx.Response] = pool.submit(send)

    def finish() -> None:
        assert future.result(30).status_code == 200

    return finish


async def _open(gate: asyncio.Event) -> None:
    gate.set()


@pytest.mark.parametrize(
    ("model", "protocol"),
    [
        ("async-gate", "v1"),
        ("async-gate", "v2"),
        ("async-gate", "grpc"),
        ("sync-gate", "v2"),
        ("sync-gate", "grpc"),
    ],
)
def test_requests_in_flight_is_one_while_a_request_runs(
    server: RunningServer,
    http: httpx.Client,
    stub: pb_grpc.GRPCInferenceServiceStub,
    gates: dict[str, AsyncGate | SyncGate],
    model: str,
    protocol: str,
) -> None:
    gate = gates[model]
    gate.arm()
    name = "modelplane_requests_in_flight"
    idle = scrape(http)
    for each in MODEL_PROTOCOLS:
        assert idle.value(name, protocol=each) == 0
    with ThreadPoolExecutor(1) as pool:
        finish = _start(protocol, model, server, pool, stub)
        try:
            assert gate.entered.wait(30), "the request never reached predict"
            busy = scrape(http)
        finally:
            if isinstance(gate, AsyncGate):
                server.call(_open(gate.gate))
            else:
                gate.gate.set()
        finish()
    for each in MODEL_PROTOCOLS:
        assert busy.value(name, protocol=each) == (1 if each == protocol else 0), each
    # The scrape is itself a request in flight, under its own protocol label.
    assert busy.value(name, protocol="other") == 1
    done = scrape(http)
    for each in MODEL_PROTOCOLS:
        assert done.value(name, protocol=each) == 0


def test_a_cancelled_grpc_call_is_not_counted_as_ok(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, hang: Hang
) -> None:
    before = scrape(http)
    call = stub.ModelInfer.future(grpc_request("hang"), timeout=30)
    assert hang.entered.wait(30), "the request never reached predict"
    assert call.cancel()
    # The server cancels the handler; its bookkeeping runs in that same step of the event loop,
    # so the next scrape, answered by that loop, sees it.
    assert hang.cancelled.wait(30), "the server never cancelled the handler"
    after = scrape(http)
    assert after.value("modelplane_requests_in_flight", protocol="grpc") == 0
    name = "modelplane_requests_total"
    counted = {
        dict(key)["status"]: value - before.value(name, **dict(key))
        for key, value in after.series(name, model="hang", protocol="grpc").items()
    }
    assert {status: n for status, n in counted.items() if n} == {"CANCELLED": 1}


# --- request ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [ROW]}, 200),
        ("POST", f"/v2/models/{MODEL}/infer", v2_body(), 200),
        ("GET", "/v2/health/live", None, 200),
        ("POST", "/v2/models/nope/infer", v2_body(), 404),
        ("GET", "/no/such/route", None, 404),
    ],
)
def test_rest_returns_the_request_id_it_was_sent(
    http: httpx.Client, method: str, path: str, body: Any, status: int
) -> None:
    response = http.request(method, path, json=body, headers={"x-request-id": "client-id-1"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["client-id-1"]


def test_rest_generates_a_request_id_when_none_is_sent(http: httpx.Client) -> None:
    first = http.post(f"/v2/models/{MODEL}/infer", json=v2_body())
    second = http.post(f"/v2/models/{MODEL}/infer", json=v2_body())
    ids = [response.headers.get_list("x-request-id") for response in (first, second)]
    assert all(len(found) == 1 and GENERATED_ID.match(found[0]) for found in ids), ids
    assert ids[0] != ids[1]


def test_v2_response_id_is_the_request_id_header_unless_the_body_names_one(
    http: httpx.Client,
) -> None:
    path = f"/v2/models/{MODEL}/infer"
    from_header = http.post(path, json=v2_body(), headers={"x-request-id": "from-header"})
    assert from_header.json()["id"] == "from-header"
    from_body = http.post(
        path, json={**v2_body(), "id": "from-body"}, headers={"x-request-id": "from-header"}
    )
    assert from_body.json()["id"] == "from-body"
    assert from_body.headers["x-request-id"] == "from-header"


def test_grpc_returns_the_request_id_in_trailing_metadata(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    metadata = (("x-request-id", "client-id-2"),)
    response, call = stub.ModelInfer.with_call(grpc_request(), metadata=metadata, timeout=30)
    assert trailing(call)["x-request-id"] == "client-id-2"
    assert response.id == "client-id-2"
    _, live = stub.ServerLive.with_call(pb.ServerLiveRequest(), metadata=metadata, timeout=30)
    assert trailing(live)["x-request-id"] == "client-id-2"
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(grpc_request(model="nope"), metadata=metadata, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert trailing(caught.value)["x-request-id"] == "client-id-2"


def test_grpc_generates_a_request_id_when_none_is_sent(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    ids = []
    for _ in range(2):
        _, call = stub.ModelInfer.with_call(grpc_request(), timeout=30)
        ids.append(trailing(call).get("x-request-id", ""))
    assert all(GENERATED_ID.match(found) for found in ids), ids
    assert ids[0] != ids[1]


# --- the access log ----------------------------------------------------------------------------


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "modelplane.access"]


def _wait_for_access_lines(caplog: pytest.LogCaptureFixture, *request_ids: str) -> list[str]:
    """The access log is written off the request path, within 0.1 s: wait for every id's line."""
    deadline = time.monotonic() + 10
    while True:
        lines = _access_lines(caplog)
        if all(any(f"request_id={rid}" in line for line in lines) for rid in request_ids):
            return lines
        assert time.monotonic() < deadline, (request_ids, lines)
        time.sleep(0.02)


def test_access_log_line_carries_the_sent_request_id(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelplane.access"):
        response = http.post(
            f"/v2/models/{MODEL}/infer", json=v2_body(), headers={"x-request-id": "log-rest-1"}
        )
        assert response.status_code == 200
        missing = http.post(
            "/v1/models/nope:predict",
            json={"instances": [ROW]},
            headers={"x-request-id": "log-404"},
        )
        assert missing.status_code == 404
        stub.ModelInfer(grpc_request(), metadata=(("x-request-id", "log-grpc-1"),), timeout=30)
        lines = _wait_for_access_lines(caplog, "log-rest-1", "log-404", "log-grpc-1")
    rest = [line for line in lines if "request_id=log-rest-1" in line]
    assert len(rest) == 1, lines
    assert f"POST /v2/models/{MODEL}/infer" in rest[0] and " 200 " in rest[0]
    not_found = [line for line in lines if "request_id=log-404" in line]
    assert len(not_found) == 1 and " 404 " in not_found[0], lines
    grpc_lines = [line for line in lines if "request_id=log-grpc-1" in line]
    assert len(grpc_lines) == 1, lines
    assert "ModelInfer" in grpc_lines[0] and " OK " in grpc_lines[0]


def test_access_log_line_carries_the_generated_request_id(
    http: httpx.Client, stub: pb_grpc.GRPCInferenceServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelplane.access"):
        response = http.post(f"/v1/models/{MODEL}:predict", json={"instances": [ROW]})
        _, call = stub.ModelInfer.with_call(grpc_request(), timeout=30)
        generated = (response.headers["x-request-id"], trailing(call)["x-request-id"])
        lines = _wait_for_access_lines(caplog, *generated)
    for request_id in generated:
        assert GENERATED_ID.match(request_id)
        assert sum(f"request_id={request_id}" in line for line in lines) == 1, lines
