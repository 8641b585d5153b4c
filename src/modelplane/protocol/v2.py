"""The Open Inference Protocol's REST format, with the binary tensor data extension.

A request body is a JSON header, optionally followed by raw tensor bytes when the
`Inference-Header-Content-Length` header says where the JSON ends; each binary input names its
byte count in `parameters.binary_data_size`. Binary inputs become numpy views over the body (no
copy). Responses are JSON, or JSON plus binary outputs when the request asked for them with
`binary_data_output` or a per-output `binary_data` parameter.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from modelplane.core import datatypes, errors
from modelplane.core.inference import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    RequestedOutput,
)
from modelplane.protocol import jsoncodec

HEADER_LENGTH = "inference-header-content-length"
_LENGTH = struct.Struct("<I")


def decode_request(
    body: bytes,
    model_name: str,
    model_version: str | None = None,
    header_length: int | None = None,
) -> InferRequest:
    """Decode an infer request body; every tensor is checked against its shape here, once."""
    view = memoryview(body)
    if header_length is None:
        header, binary = view, view[len(view) :]
    else:
        if header_length < 0 or header_length > len(view):
            raise errors.InvalidInput(
                f"{HEADER_LENGTH} is {header_length} but the body has {len(view)} bytes"
            )
        header, binary = view[:header_length], view[header_length:]
    doc = jsoncodec.loads_object(header, "the inference request")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise errors.InvalidInput('"inputs" must be a non-empty list of tensors')
    offset = 0
    inputs = []
    names = set()
    for index, spec in enumerate(raw_inputs):
        tensor, used = _decode_input(index, spec, binary, offset)
        if tensor.name in names:
            raise errors.InvalidInput(f"input '{tensor.name}' appears twice in the request")
        names.add(tensor.name)
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise errors.InvalidInput(
            f"the body carries {len(binary) - offset} bytes of binary data that no input claims"
        )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise errors.InvalidInput('"id" must be a string')
    return InferRequest(
        model_name=model_name,
        infer_inputs=inputs,
        request_id=request_id,
        parameters=_parameters(doc.get("parameters"), "request"),
        request_outputs=_requested_outputs(doc.get("outputs")),
        model_version=model_version,
    )


def _decode_input(index: int, spec: Any, binary: memoryview, offset: int) -> tuple[InferInput, int]:
    if not isinstance(spec, dict):
        raise errors.InvalidInput(f"input #{index} must be a JSON object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise errors.InvalidInput(f'input #{index} needs a "name" string')
    shape = spec.get("shape")
    if not isinstance(shape, list):
        raise errors.InvalidInput(f"input '{name}' needs a \"shape\" list")
    count = datatypes.element_count(shape)
    datatype = spec.get("datatype")
    if not isinstance(datatype, str):
        raise errors.UnsupportedDatatype(f"input '{name}' needs a \"datatype\" string")
    dtype = datatypes.to_numpy(datatype)
    parameters = _parameters(spec.get("parameters"), f"input '{name}'")
    size = parameters.pop("binary_data_size", None)
    if size is None:
        if "data" not in spec:
            raise errors.InvalidInput(f"input '{name}' has neither \"data\" nor binary data")
        tensor = InferInput(name, shape, datatype, spec["data"], parameters)
        tensor.as_numpy()
        return tensor, 0
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise errors.InvalidInput(
            f"input '{name}': binary_data_size must be a non-negative integer"
        )
    if offset + size > len(binary):
        raise errors.InvalidInput(
            f"input '{name}' claims {size} bytes of binary data but only "
            f"{len(binary) - offset} remain in the body"
        )
    chunk = binary[offset : offset + size]
    if datatype == "BYTES":
        array = _unpack_bytes(name, chunk, count)
    else:
        if size != count * dtype.itemsize:
            raise errors.InvalidInput(
                f"input '{name}' is {datatype} with shape {shape}: it needs "
                f"{count * dtype.itemsize} bytes but binary_data_size is {size}"
            )
        array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<"))
        if datatype == "BOOL" and np.frombuffer(chunk, dtype=np.uint8).max(initial=0) > 1:
            raise errors.InvalidInput(f"input '{name}' is BOOL: every byte must be 0 or 1")
    return InferInput(name, shape, datatype, array.reshape(shape), parameters), size


def _unpack_bytes(name: str, chunk: memoryview, count: int) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    pos = 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise errors.InvalidInput(f"input '{name}': truncated length prefix in BYTES data")
        (length,) = _LENGTH.unpack_from(chunk, pos)
        pos += 4
        if pos + length > len(chunk):
            raise errors.InvalidInput(f"input '{name}': a BYTES element runs past its data")
        items.append(bytes(chunk[pos : pos + length]))
        pos += length
    if len(items) != count:
        raise errors.InvalidInput(
            f"input '{name}' has {len(items)} BYTES elements but its shape needs {count}"
        )
    array = np.empty(count, dtype=np.object_)
    array[:] = items
    return array


def pack_bytes(array: np.ndarray[Any, Any]) -> bytes:
    """BYTES elements as 4-byte little-endian length prefixes each followed by the bytes."""
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.InvalidInput(f'"parameters" of the {where} must be a JSON object')
    return value


def _requested_outputs(value: Any) -> list[RequestedOutput]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.InvalidInput('"outputs" must be a list of {"name": ...} objects')
    outputs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise errors.InvalidInput('each entry of "outputs" needs a "name" string')
        outputs.append(RequestedOutput(item["name"], _parameters(item.get("parameters"), "output")))
    return outputs


def encode_response(
    response: InferResponse, request: InferRequest | None = None
) -> tuple[bytes, int | None]:
    """Encode a response; returns the body and, when binary outputs follow, the JSON length."""
    binary_default = bool(request.parameters.get("binary_data_output")) if request else False
    per_output: dict[str, bool] = {}
    if request is not None:
        for wanted in request.request_outputs:
            if "binary_data" in wanted.parameters:
                per_output[wanted.name] = bool(wanted.parameters["binary_data"])
    blobs: list[bytes] = []
    outputs = []
    for output in response.outputs:
        binary = per_output.get(output.name, binary_default)
        outputs.append(_encode_output(output, binary, blobs))
    doc: dict[str, Any] = {"model_name": response.model_name, "outputs": outputs}
    if response.model_version is not None:
        doc["model_version"] = response.model_version
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    header = jsoncodec.dumps(doc)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _encode_output(output: InferOutput, binary: bool, blobs: list[bytes]) -> dict[str, Any]:
    array = output.as_numpy()
    doc: dict[str, Any] = {
        "name": output.name,
        "datatype": output.datatype,
        "shape": list(array.shape),
    }
    parameters = dict(output.parameters)
    parameters.pop("binary_data", None)
    if binary:
        if output.datatype == "BYTES":
            blob = pack_bytes(array)
        else:
            dtype = datatypes.to_numpy(output.datatype).newbyteorder("<")
            blob = np.ascontiguousarray(array, dtype=dtype).tobytes()
        parameters["binary_data_size"] = len(blob)
        blobs.append(blob)
    elif output.datatype == "BYTES":
        doc["data"] = [
            item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)
            for item in array.reshape(-1)
        ]
    else:
        doc["data"] = array.reshape(-1)
    if parameters:
        doc["parameters"] = parameters
    return doc


def dumps(value: Any) -> bytes:
    return jsoncodec.dumps(value)


# --- the client's side: a request out, a response back ----------------------------------------


def encode_request(request: InferRequest) -> bytes:
    """A request as JSON (no binary extension), as a client sends it to `/v2/models/NAME/infer`."""
    doc: dict[str, Any] = {
        "inputs": [
            {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": list(tensor.shape),
                "data": _json_data(tensor.as_numpy(), tensor.datatype),
                **_json_parameters(tensor.parameters),
            }
            for tensor in request.inputs
        ]
    }
    if request.id is not None:
        doc["id"] = request.id
    if request.parameters:
        doc["parameters"] = request.parameters
    if request.request_outputs:
        doc["outputs"] = [
            {"name": o.name, **({"parameters": o.parameters} if o.parameters else {})}
            for o in request.request_outputs
        ]
    return jsoncodec.dumps(doc)


def decode_response(body: bytes, header_length: int | None = None) -> InferResponse:
    """A server's answer to an infer request (JSON, or JSON and binary outputs)."""
    view = memoryview(body)
    end = len(view) if header_length is None else header_length
    doc = jsoncodec.loads_object(view[:end], "the inference response")
    raw_outputs = doc.get("outputs")
    if not isinstance(raw_outputs, list):
        raise errors.InferenceError('the inference response has no "outputs" list')
    outputs, offset = [], 0
    for index, spec in enumerate(raw_outputs):
        tensor, used = _decode_input(index, spec, view[end:], offset)
        offset += used
        outputs.append(
            InferOutput(tensor.name, tensor.shape, tensor.datatype, tensor.as_numpy(),
                        tensor.parameters)
        )  # fmt: skip
    version = doc.get("model_version")
    return InferResponse(
        doc.get("id") if isinstance(doc.get("id"), str) else None,
        str(doc.get("model_name", "")),
        outputs,
        model_version=version if isinstance(version, str) else None,
        parameters=_parameters(doc.get("parameters"), "response"),
    )


def _json_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    # The data goes as JSON: a binary size or flag a client set for its own encoding would lie.
    kept = {k: v for k, v in parameters.items() if k not in ("binary_data_size", "binary_data")}
    return {"parameters": kept} if kept else {}


def _json_data(array: np.ndarray[Any, Any], datatype: str) -> Any:
    if datatype == "BYTES":
        return [
            item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)
            for item in array.reshape(-1)
        ]
    return array.reshape(-1)
