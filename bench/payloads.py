"""The request bodies every scenario sends, written once per run as files, with the answers
they must get back.

The same bytes go to every server: a V1 `{"instances": ...}` body, a V2 JSON body, a V2 body
with the binary tensor extension, and gRPC `ModelInfer` frames (a 5-byte gRPC prefix and a
serialized `inference.ModelInferRequest`, which h2load posts as they are). The expected answer of
each iris body is computed here with the same joblib model, so a server that answers 200 with
the wrong predictions fails the preflight check instead of scoring.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IRIS_MODEL = "sklearn-iris"
TENSOR_MODEL = "tensor-mean"
TENSOR_SHAPE = (1, 3, 224, 224)
JSON = "application/json"
OCTETS = "application/octet-stream"


@dataclass
class Body:
    """One request body on disk and what a correct answer holds."""

    path: Path
    content_type: str
    headers: list[str] = field(default_factory=list)  # extra "Name: value" headers
    size: int = 0
    expect: Any = None  # predictions (iris) or the mean (tensor)


def iris_rows(count: int) -> np.ndarray[Any, Any]:
    """`count` rows of the iris data set, repeated as needed."""
    from sklearn.datasets import load_iris

    features = load_iris().data
    reps = -(-count // len(features))
    return np.tile(features, (reps, 1))[:count].astype(np.float64)


def tensor() -> np.ndarray[Any, Any]:
    return np.random.default_rng(0).random(TENSOR_SHAPE, dtype=np.float32)


def _v2_json(name: str, array: np.ndarray[Any, Any], datatype: str) -> bytes:
    doc = {
        "inputs": [
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype,
                "data": array.reshape(-1).tolist(),
            }
        ]
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _v2_binary(name: str, array: np.ndarray[Any, Any], datatype: str) -> tuple[bytes, int]:
    raw = np.ascontiguousarray(array).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    return header + raw, len(header)


def grpc_message(model: str, array: np.ndarray[Any, Any], datatype: str, raw: bool) -> bytes:
    """A serialized ModelInferRequest: typed `contents` lists, or `raw_input_contents`."""
    from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb

    request = pb.ModelInferRequest(model_name=model)
    tensor_msg = request.inputs.add(name="input-0", datatype=datatype, shape=list(array.shape))
    if raw:
        request.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    elif datatype == "FP64":
        tensor_msg.contents.fp64_contents.extend(array.reshape(-1).tolist())
    else:
        tensor_msg.contents.fp32_contents.extend(array.reshape(-1).tolist())
    return request.SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """A length-prefixed gRPC message, uncompressed, as it travels in an HTTP/2 DATA frame."""
    return b"\x00" + struct.pack(">I", len(message)) + message


class Bodies:
    """Writes every body under `directory` on first use and remembers it."""

    def __init__(self, directory: Path, model_file: Path) -> None:
        self.directory = directory
        self.model_file = model_file
        self._cache: dict[str, Body] = {}
        self._estimator: Any = None
        directory.mkdir(parents=True, exist_ok=True)

    def _predict(self, rows: np.ndarray[Any, Any]) -> list[int]:
        if self._estimator is None:
            import joblib

            self._estimator = joblib.load(self.model_file)
        return [int(v) for v in self._estimator.predict(rows)]

    def _write(self, key: str, data: bytes, content_type: str, expect: Any, **kw: Any) -> Body:
        path = self.directory / key
        path.write_bytes(data)
        body = Body(path, content_type, size=len(data), expect=expect, **kw)
        self._cache[key] = body
        return body

    def get(self, kind: str, rows: int = 0) -> Body:
        """`kind`: v1, v2, grpc (iris, `rows` rows), or tensor-json, tensor-bin, tensor-grpc."""
        key = f"{kind}-{rows}" if rows else kind
        if key in self._cache:
            return self._cache[key]
        if kind in ("v1", "v2", "grpc"):
            data = iris_rows(rows)
            expect = self._predict(data)
            if kind == "v1":
                payload = json.dumps({"instances": data.tolist()}, separators=(",", ":"))
                return self._write(key, payload.encode(), JSON, expect)
            if kind == "v2":
                return self._write(key, _v2_json("input-0", data, "FP64"), JSON, expect)
            frame = grpc_frame(grpc_message(IRIS_MODEL, data, "FP64", raw=False))
            return self._write(key, frame, "application/grpc", expect)
        array = tensor()
        mean = float(array.mean(dtype=np.float64))
        if kind == "tensor-json":
            return self._write(key, _v2_json("input-0", array, "FP32"), JSON, mean)
        if kind == "tensor-bin":
            blob, header_length = _v2_binary("input-0", array, "FP32")
            headers = [f"Inference-Header-Content-Length: {header_length}"]
            return self._write(key, blob, OCTETS, mean, headers=headers)
        if kind == "tensor-grpc":
            frame = grpc_frame(grpc_message(TENSOR_MODEL, array, "FP32", raw=True))
            return self._write(key, frame, "application/grpc", mean)
        raise ValueError(f"unknown body kind {kind!r}")
