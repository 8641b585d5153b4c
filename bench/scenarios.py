"""The scenarios: what is sent, how hard, and to which servers.

A scenario is one request body at one concurrency. Each server configuration ("peer/config":
`modelplane/iris`, `kserve/tensor`, `modelplane/batch`, `bare/echo`, ...) is started once and
runs every scenario that names it, so a server is started as few times as possible.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.payloads import IRIS_MODEL, TENSOR_MODEL

PEERS = ("modelplane", "kserve", "mlserver")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    body: str  # a payloads.Bodies kind: v1, v2, grpc, tensor-json, tensor-bin, tensor-grpc
    rows: int  # iris rows per request; 0 for the tensor
    connections: int
    runs_on: tuple[str, ...]  # "peer/config" launches
    streams: int = 1  # gRPC: concurrent streams per connection
    quick: bool = False  # part of --quick
    compare_as: str | None = None  # the key whose peers' figures this row is compared with

    @property
    def grpc(self) -> bool:
        return self.body in ("grpc", "tensor-grpc")

    @property
    def path(self) -> str:
        model = TENSOR_MODEL if self.body.startswith("tensor") else IRIS_MODEL
        if self.body == "v1":
            return f"/v1/models/{model}:predict"
        if self.grpc:
            return "/inference.GRPCInferenceService/ModelInfer"
        return f"/v2/models/{model}/infer"

    @property
    def concurrency(self) -> int:
        return self.connections * self.streams


def _iris() -> list[Scenario]:
    found = []
    for body, title, peers in (
        ("v1", "V1 predict", ("modelplane/iris", "kserve/iris")),
        ("v2", "V2 infer", ("modelplane/iris", "kserve/iris", "mlserver/iris")),
    ):
        for rows in (2, 256):
            for conns in (1, 8, 64):
                found.append(
                    Scenario(
                        key=f"{body}-{rows}r-c{conns}",
                        title=f"{title}, {rows} rows",
                        body=body,
                        rows=rows,
                        connections=conns,
                        runs_on=peers,
                        # the 1-connection rows: what batching must match
                        quick=conns == 64 or (conns == 1 and rows == 2),
                    )
                )
    return found


SCENARIOS: list[Scenario] = [
    *_iris(),
    Scenario(
        "grpc-2r-c8x8",
        "gRPC ModelInfer, 2 rows",
        "grpc",
        2,
        connections=8,
        streams=8,
        runs_on=("modelplane/iris", "kserve/iris", "mlserver/iris"),
        quick=True,
    ),
    Scenario(
        "grpc-2r-c1",
        "gRPC ModelInfer, 2 rows",
        "grpc",
        2,
        connections=1,
        runs_on=("modelplane/iris", "kserve/iris"),
        quick=True,
    ),
    # Adaptive batching on (modelplane only), compared with the peers' unbatched rows. At one
    # connection a request never has company: what batching costs a lone request.
    Scenario(
        "v1-2r-c1-batch",
        "V1 predict, 2 rows, batching",
        "v1",
        2,
        1,
        ("modelplane/batch",),
        quick=True,
        compare_as="v1-2r-c1",
    ),
    Scenario(
        "v1-2r-c64-batch",
        "V1 predict, 2 rows, batching",
        "v1",
        2,
        64,
        ("modelplane/batch",),
        quick=True,
        compare_as="v1-2r-c64",
    ),
    Scenario(
        "v2-2r-c1-batch",
        "V2 infer, 2 rows, batching",
        "v2",
        2,
        1,
        ("modelplane/batch",),
        compare_as="v2-2r-c1",
        quick=True,
    ),
    Scenario(
        "v2-2r-c64-batch",
        "V2 infer, 2 rows, batching",
        "v2",
        2,
        64,
        ("modelplane/batch",),
        quick=True,
        compare_as="v2-2r-c64",
    ),
    Scenario(
        "grpc-2r-c8x8-batch",
        "gRPC ModelInfer, 2 rows, batching",
        "grpc",
        2,
        connections=8,
        streams=8,
        runs_on=("modelplane/batch",),
        compare_as="grpc-2r-c8x8",
        quick=True,
    ),
    Scenario(
        "grpc-2r-c1-batch",
        "gRPC ModelInfer, 2 rows, batching",
        "grpc",
        2,
        connections=1,
        runs_on=("modelplane/batch",),
        compare_as="grpc-2r-c1",
        quick=True,
    ),
    # The access log's price where a request costs least: batched V1 with the log off, beside
    # the same row with it on (the default).
    Scenario(
        "v1-2r-c64-batch-nolog",
        "V1 predict, 2 rows, batching, no access log",
        "v1",
        2,
        64,
        ("modelplane/batch-nolog",),
        quick=True,
        compare_as="v1-2r-c64",
    ),
    # A 1x3x224x224 FP32 tensor into a model that answers its mean.
    Scenario(
        "tensor-bin-c8",
        "1x3x224x224 FP32, binary extension",
        "tensor-bin",
        0,
        8,
        ("modelplane/tensor", "kserve/tensor"),
        quick=True,
    ),
    Scenario(
        "tensor-json-c8",
        "1x3x224x224 FP32, JSON",
        "tensor-json",
        0,
        8,
        ("modelplane/tensor", "kserve/tensor"),
        quick=True,
    ),
    Scenario(
        "tensor-grpc-c8",
        "1x3x224x224 FP32, gRPC raw contents",
        "tensor-grpc",
        0,
        connections=8,
        streams=1,
        runs_on=("modelplane/tensor", "kserve/tensor"),
    ),
    # The same tensor bodies into an ONNX graph (ReduceMean) run by ONNX Runtime (modelplane only).
    Scenario(
        "onnx-bin-c8",
        "1x3x224x224 FP32 into ONNX Runtime, binary extension",
        "tensor-bin",
        0,
        8,
        ("modelplane/onnx",),
        quick=True,
    ),
    Scenario(
        "onnx-grpc-c8",
        "1x3x224x224 FP32 into ONNX Runtime, gRPC raw contents",
        "tensor-grpc",
        0,
        connections=8,
        streams=1,
        runs_on=("modelplane/onnx",),
        quick=True,
    ),
    # The ceiling: the V2 2-row request at 64 connections against a bare ASGI app.
    Scenario(
        "ceiling-echo",
        "bare ASGI, fixed answer (V2 2 rows in)",
        "v2",
        2,
        64,
        ("bare/echo",),
        quick=True,
    ),
    Scenario(
        "ceiling-predict",
        "bare ASGI + orjson + predict (V2 2 rows)",
        "v2",
        2,
        64,
        ("bare/predict",),
        quick=True,
    ),
]

LAUNCH_ORDER = (
    "modelplane/iris",
    "kserve/iris",
    "mlserver/iris",
    "modelplane/batch",
    "modelplane/batch-nolog",
    "modelplane/tensor",
    "modelplane/onnx",
    "kserve/tensor",
    "bare/echo",
    "bare/predict",
)
