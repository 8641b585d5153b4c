"""InferenceGraphs through `modelplane up`, with real replicas and real router processes.

One control plane for the module: two InferenceServices (sklearn iris, which logs to a sink
here, and the custom echo model of tests/support/echo_model.py) and one graph per router type,
shaped as KServe's docs write them, plus a graph whose root switches between nodes that show
soft and hard dependencies, a failing step, a timeout and gRPC steps, and a graph naming a
service that does not exist. Every graph is applied at once, so routers start side by side.
"""

from __future__ import annotations

import http.server
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb
from modelplane.protocol.grpc_stubs import open_inference_pb2_grpc as pb_grpc
from tests.support.controlplane import ControlPlane, wait_until
from tests.support.models import train_sklearn

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]
ISVC = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
IG = "apiVersion: serving.kserve.io/v1alpha1\nkind: InferenceGraph\n"
HOST = "{}.default.example.com"


def manifests(model: Path, sink: str) -> str:
    iris_url = "http://sklearn-iris.default.example.com"
    return f"""\
{ISVC}metadata:
  name: sklearn-iris
spec:
  predictor:
    logger:
      mode: request
      url: {sink}
      metadataHeaders: [X-Tenant]
    model:
      modelFormat:
        name: sklearn
      storageUri: file://{model}
---
{ISVC}metadata:
  name: echo
spec:
  predictor:
    containers:
    - name: kserve-container
      image: modelplane
      args: [serve, --model-name=echo, --model-class=tests.support.echo_model:EchoModel]
---
{IG}metadata:
  name: dog-breed-pipeline
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - serviceName: sklearn-iris
        name: cat_dog_classifier
      - serviceName: echo
        name: dog_breed_classifier
        data: $request
        condition: "[@this].#(predictions.0==0)"
---
{IG}metadata:
  name: switch
spec:
  nodes:
    root:
      routerType: Switch
      steps:
      - serviceName: sklearn-iris
        condition: "[@this].#(decision_picker==\\"iris\\")"
      - serviceName: echo
        condition: "[@this].#(decision_picker==\\"echo\\")"
---
{IG}metadata:
  name: ensemble
spec:
  nodes:
    root:
      routerType: Ensemble
      steps:
      - serviceName: sklearn-iris
        name: classifier-1
      - serviceName: sklearn-iris
---
{IG}metadata:
  name: splitter
spec:
  nodes:
    root:
      routerType: Splitter
      steps:
      - serviceName: sklearn-iris
        weight: 20
      - serviceName: echo
        weight: 80
---
{IG}metadata:
  name: deps
spec:
  routerTimeouts:
    serviceClient: 2
  nodes:
    root:
      routerType: Switch
      steps:
      - {{nodeName: soft, condition: "[@this].#(mode==\\"soft\\")"}}
      - {{nodeName: hard, condition: "[@this].#(mode==\\"hard\\")"}}
      - {{serviceName: echo, condition: "[@this].#(mode==\\"slow\\")"}}
      - {{nodeName: both, condition: "parameters.mode"}}
    soft:
      routerType: Sequence
      steps:
      - {{serviceName: echo, name: fails}}
      - {{serviceName: sklearn-iris, name: iris, data: $request}}
    hard:
      routerType: Sequence
      steps:
      - {{serviceName: echo, name: fails, dependency: Hard}}
      - {{serviceName: sklearn-iris, name: iris, data: $request}}
    both:
      routerType: Ensemble
      steps:
      - {{serviceUrl: "grpc://sklearn-iris.default.example.com/sklearn-iris", name: grpc}}
      - {{serviceUrl: "{iris_url}/v2/models/sklearn-iris/infer", name: rest}}
---
{IG}metadata:
  name: missing
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - serviceName: no-such-service
"""


class Sink(http.server.BaseHTTPRequestHandler):
    events: queue.Queue[dict[str, str]] = queue.Queue()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.events.put({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sink() -> Iterator[type[Sink]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Sink.url = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    yield Sink
    server.shutdown()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, sink: type[Sink]) -> Iterator[ControlPlane]:
    work = tmp_path_factory.mktemp("graphs")
    model = train_sklearn(work / "iris")
    (work / "all.yaml").write_text(manifests(model, sink.url))  # type: ignore[attr-defined]
    with ControlPlane(work / "home", "--router-headers", "X-Tenant,Authorization") as running:
        running.wait_up()
        running.apply((work / "all.yaml").read_text())
        for name in ("sklearn-iris", "echo"):
            running.wait_ready(name)
        for name in ("dog-breed-pipeline", "switch", "ensemble", "splitter", "deps"):
            wait_until(lambda n=name: ready(running, n), 60, f"InferenceGraph {name} Ready")
        yield running
        assert running.terminate() == 0, running.output


def graph(plane: ControlPlane, name: str) -> dict[str, Any]:
    with plane.api() as client:
        path = f"/apis/serving.kserve.io/v1alpha1/namespaces/default/inferencegraphs/{name}"
        answer = client.get(path)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def ready(plane: ControlPlane, name: str) -> bool:
    conditions = graph(plane, name).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def post(plane: ControlPlane, name: str, body: Any, **headers: str) -> httpx.Response:
    with plane.gateway() as client:
        return client.post("/", json=body, headers={"Host": HOST.format(name), **headers})


def test_kubectl_lists_graphs_with_kserves_columns(plane: ControlPlane) -> None:
    listed = plane.kubectl("get", "ig")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "URL", "READY", "AGE"]
    row = next(line.split() for line in lines if line.startswith("ensemble "))
    assert row[1:3] == ["http://ensemble.default.example.com", "True"]
    missing = graph(plane, "missing")["status"]["conditions"][0]
    assert (missing["status"], missing["reason"]) == ("False", "ServiceNotFound")
    assert "no-such-service" in missing["message"]


def test_sequence_with_a_condition_as_kserves_dog_breed_pipeline(plane: ControlPlane) -> None:
    # A setosa (class 0) goes on to the second step with the original request ...
    answer = post(plane, "dog-breed-pipeline", {"instances": [SETOSA], "id": "s1"})
    assert (answer.status_code, answer.json()) == (200, {"id": "s1", "bytes": 0})
    # ... anything else stops with the first step's answer.
    answer = post(plane, "dog-breed-pipeline", {"instances": [VIRGINICA], "id": "s2"})
    assert (answer.status_code, answer.json()) == (200, {"predictions": [2]})


def test_switch_picks_by_condition_and_404s_when_none_matches(plane: ControlPlane) -> None:
    iris = post(plane, "switch", {"decision_picker": "iris", "instances": [SETOSA]})
    assert iris.json() == {"predictions": [0]}
    echo = post(plane, "switch", {"decision_picker": "echo", "id": "e"})
    assert echo.json() == {"id": "e", "bytes": 0}
    none = post(plane, "switch", {"decision_picker": "other"})
    assert none.status_code == 404
    assert none.json()["cause"] == "None of the routes matched with the switch condition"


def test_ensemble_keys_answers_by_step_name_or_index(plane: ControlPlane, sink: type[Sink]) -> None:
    while not sink.events.empty():
        sink.events.get_nowait()
    answer = post(
        plane, "ensemble", {"instances": [SETOSA]}, **{"x-request-id": "graph-7", "X-Tenant": "t1"}
    )
    assert (answer.status_code, answer.json()) == (
        200,
        {"classifier-1": {"predictions": [0]}, "1": {"predictions": [0]}},
    )
    assert answer.headers["x-request-id"] == "graph-7"
    # Both steps' requests are logged under the graph's request id, with the tenant header.
    events = [sink.events.get(timeout=10) for _ in range(2)]
    assert [e["ce-id"] for e in events] == ["graph-7", "graph-7"]
    assert all(json.loads(e["ce-metadata"]) == {"X-Tenant": ["t1"]} for e in events)


def test_splitter_sends_each_request_to_one_step_by_weight(plane: ControlPlane) -> None:
    seen = []
    for i in range(60):
        seen.append(post(plane, "splitter", {"instances": [SETOSA], "id": str(i)}).json())
    iris = sum(1 for s in seen if "predictions" in s)
    assert 0 < iris < 30 and sum(1 for s in seen if s.get("bytes") == 0) == 60 - iris


def test_soft_failure_goes_on_hard_failure_stops_with_the_steps_answer(
    plane: ControlPlane,
) -> None:
    body = {"mode": "soft", "instances": [SETOSA]}  # no "id": the echo model fails on it
    soft = post(plane, "deps", body)
    assert (soft.status_code, soft.json()) == (200, {"predictions": [0]})
    hard = post(plane, "deps", {**body, "mode": "hard"})
    with plane.gateway() as client:  # what the failing service itself answers
        direct = client.post("/v1/models/echo:predict", json=body)
    assert direct.status_code >= 400
    assert (hard.status_code, hard.json()) == (direct.status_code, direct.json())


def test_a_step_out_of_time_is_a_504(plane: ControlPlane) -> None:
    answer = post(plane, "deps", {"mode": "slow", "id": "x", "delay": 6})
    assert answer.status_code == 504
    assert "serviceClient" in answer.json()["cause"]


def test_unknown_service_is_a_clear_error(plane: ControlPlane) -> None:
    answer = post(plane, "missing", {"instances": [SETOSA]})
    assert answer.status_code == 404
    assert "no-such-service" in answer.text


V2_INPUT = {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": SETOSA}


def test_grpc_and_rest_steps_over_rest(plane: ControlPlane) -> None:
    answer = post(plane, "deps", {"inputs": [V2_INPUT], "parameters": {"mode": "v2"}})
    assert answer.status_code == 200, answer.text
    both = answer.json()
    assert both["grpc"]["outputs"][0]["data"] == both["rest"]["outputs"][0]["data"] == [0]


def test_the_graph_over_grpc(plane: ControlPlane) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{plane.grpc_port}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    request = pb.ModelInferRequest(
        model_name="deps",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="input-0",
                datatype="FP32",
                shape=[1, 4],
                contents=pb.InferTensorContents(fp32_contents=SETOSA),
            )
        ],
    )
    request.parameters["mode"].string_param = "grpc"
    answer = stub.ModelInfer(request, timeout=30)
    outputs = {o.name: list(o.contents.int64_contents) for o in answer.outputs}
    assert outputs == {"grpc/output-0": [0], "rest/output-0": [0]}
    # A `host` metadata entry picks the graph as it picks a service; the model name is free.
    request.model_name = "anything"
    by_host = stub.ModelInfer(request, timeout=30, metadata=(("host", HOST.format("deps")),))
    assert len(by_host.outputs) == 2 and by_host.model_name == "anything"
    request.model_name = "deps"
    del request.parameters["mode"]
    with pytest.raises(grpc.RpcError) as failed:  # no condition matches: 404 is NOT_FOUND
        stub.ModelInfer(request, timeout=30)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert "None of the routes matched" in (failed.value.details() or "")
    channel.close()


def test_deleting_a_graph_takes_its_route_and_routers_away(plane: ControlPlane) -> None:
    pods = plane.kubectl("get", "pods", "-o", "name").stdout
    assert "missing-router-" in pods  # the router runs as a replica, listed as a pod
    deleted = plane.kubectl("delete", "ig", "missing")
    assert deleted.returncode == 0, deleted.stderr

    def gone() -> bool:
        answer = post(plane, "missing", {})
        pods = plane.kubectl("get", "pods", "-o", "name").stdout
        return answer.status_code == 404 and "no route" in answer.text and "missing-" not in pods

    wait_until(gone, 30, "the graph's route and router gone")


def test_a_graph_its_router_cannot_route_says_why_in_its_status(plane: ControlPlane) -> None:
    plane.apply(
        f"""{IG}metadata:
  name: bad-condition
spec:
  nodes:
    root:
      routerType: Switch
      steps:
      - serviceName: echo
        condition: "instances.#(intval>"
"""
    )

    def failed() -> dict[str, Any] | None:
        conditions = graph(plane, "bad-condition").get("status", {}).get("conditions", [])
        found = [c for c in conditions if c.get("reason") == "RouterFailed"]
        return found[0] if found else None

    condition = wait_until(failed, 30, "the graph's RouterFailed status")
    assert "condition" in condition["message"] and condition["status"] == "False"
    assert plane.kubectl("delete", "ig", "bad-condition").returncode == 0
    wait_until(
        lambda: "bad-condition-" not in plane.kubectl("get", "pods", "-o", "name").stdout,
        30,
        "the crash-looping router gone",
    )
