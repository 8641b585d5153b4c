"""Between the router's JSON and the Open Inference Protocol's gRPC messages.

Inside the router every payload is JSON, as in KServe's router, so conditions read it and steps
chain it whatever protocol each step speaks. A gRPC step's input is a V2 request (`inputs`) or
a V2 response chained as `$response` (its `outputs` become the next `inputs`); its answer comes
back as V2 response JSON. A graph called over gRPC arrives as a `ModelInferRequest` and leaves
as a `ModelInferResponse`: an Ensemble's answer carries every step's outputs named
`STEP/OUTPUT`, and a V1 answer (`predictions`) is one output named `predictions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelplane.core import datatypes, errors, inference
from modelplane.protocol import grpc_codec, v2
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb


def to_infer_request(body: bytes, model: str) -> bytes:
    """A gRPC step's `ModelInferRequest` (serialized) from a V2 request or response body."""
    doc = _object(body, "a gRPC step's input")
    if "inputs" not in doc and isinstance(doc.get("outputs"), list):
        doc = {"inputs": doc["outputs"], "parameters": doc.get("parameters") or {}}
        body = orjson.dumps(doc)
    if "inputs" not in doc:
        raise errors.InvalidInput(
            "a gRPC step takes an Open Inference Protocol body: a request with 'inputs' or "
            "a response with 'outputs'"
        )
    request = v2.decode_request(body, model)
    return bytes(grpc_codec.encode_infer_request(request).SerializeToString())


def from_infer_response(raw: bytes) -> bytes:
    """A step's `ModelInferResponse` as V2 response JSON."""
    response = grpc_codec.decode_infer_response(pb.ModelInferResponse.FromString(raw))
    return v2.encode_response(response)[0]


def from_infer_request(raw: bytes) -> tuple[bytes, str]:
    """A graph's gRPC request as V2 request JSON, and the model name it was sent to."""
    request = grpc_codec.decode_infer_request(pb.ModelInferRequest.FromString(raw))
    doc: dict[str, Any] = {"inputs": [_tensor(t) for t in request.inputs]}
    if request.id:
        doc["id"] = request.id
    if request.parameters:
        doc["parameters"] = request.parameters
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY), request.model_name


def to_infer_response(body: bytes, model: str) -> bytes:
    """The graph's JSON answer as a serialized `ModelInferResponse`."""
    doc = _object(body, "the graph's answer")
    outputs = _outputs(doc, "")
    if not outputs:
        for step, answer in doc.items():
            if isinstance(answer, dict):
                outputs += _outputs(answer, f"{step}/")
    if not outputs:
        raise errors.InvalidInput(
            "the graph's answer has no tensors to send over gRPC (no 'outputs' or 'predictions')"
        )
    response = inference.InferResponse(doc.get("id"), model, outputs)
    return bytes(grpc_codec.encode_infer_response(response, raw=False).SerializeToString())


def _outputs(doc: dict[str, Any], prefix: str) -> list[inference.InferOutput]:
    if isinstance(doc.get("outputs"), list):
        return [
            inference.InferOutput(
                prefix + str(o.get("name", "")),
                o.get("shape", []),
                o.get("datatype", ""),
                o.get("data"),
                o.get("parameters"),
            )
            for o in doc["outputs"]
            if isinstance(o, dict)
        ]
    if "predictions" in doc:
        array = np.asarray(doc["predictions"])
        if array.dtype.kind in "UO":
            array = np.vectorize(lambda s: str(s).encode(), otypes=[object])(array)
            datatype = "BYTES"
        else:
            datatype = datatypes.from_numpy(array.dtype)
        return [inference.InferOutput(prefix + "predictions", array.shape, datatype, array)]
    return []


def _tensor(tensor: inference.InferInput) -> dict[str, Any]:
    data: Any = tensor.as_numpy().reshape(-1)
    if tensor.datatype == "BYTES":
        data = tensor.as_string()
    return {"name": tensor.name, "shape": tensor.shape, "datatype": tensor.datatype, "data": data}


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise errors.InvalidInput(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise errors.InvalidInput(f"{what} is not a JSON object")
    return doc
