"""Open Inference Protocol gRPC messages to and from `modelplane.core` objects.

This module owns the protobuf side of the protocol: how tensors sit in `InferTensorContents` or
in raw bytes, how `InferParameter` values map to Python values, how metadata and repository
messages are filled, and which of the two repository-request layouts names the model. It is pure
conversion, so the gRPC servicer, the gRPC client and the tests share one encoding and none of
them touch protobuf details.

Tensor data travels one of two ways, and both are accepted on decode:

- typed lists in `contents` (`fp32_contents`, `int_contents`, ...), one list per datatype;
- raw little-endian bytes in `raw_input_contents` / `raw_output_contents`, one entry per tensor,
  with each BYTES element prefixed by its 4-byte little-endian length. Decoding a raw tensor
  gives a read-only numpy view of the message's bytes, not a copy.

On encode the caller picks the form. A server answers in raw form when the request came in raw
form (`wants_raw_output`), as Triton does: Triton's client always sends raw inputs and only reads
raw outputs (and BYTES lists). FP16 has no typed list, so a tensor list holding FP16 is always
sent raw; raw entries are positional, so then every tensor of that message goes raw.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from modelplane.core import datatypes, errors, inference
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb

Array = np.ndarray[Any, Any]
RepositoryRequest = pb.RepositoryModelLoadRequest | pb.RepositoryModelUnloadRequest
_TensorMessage = pb.ModelInferRequest.InferInputTensor | pb.ModelInferResponse.InferOutputTensor

# The typed list each datatype travels in. FP16 has none: it only travels as raw bytes.
_CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_ALL_CONTENTS_FIELDS = tuple(field.name for field in pb.InferTensorContents.DESCRIPTOR.fields)
_LENGTH = struct.Struct("<I")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


# --- parameters ------------------------------------------------------------------------------


def decode_parameters(
    parameters: Mapping[str, pb.InferParameter | pb.ModelRepositoryParameter],
    owner: str = "request",
) -> dict[str, Any]:
    """Parameter messages as plain Python `bool`, `int`, `float`, `str` (or repository `bytes`)."""
    decoded: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is None:
            raise errors.InvalidInput(f"{owner} parameter '{key}' has no value set")
        decoded[key] = getattr(parameter, choice)
    return decoded


def encode_parameters(
    parameters: Mapping[str, Any], owner: str = "request"
) -> dict[str, pb.InferParameter]:
    """Python values as `InferParameter`s, ready for a message constructor.

    `None` values are left out (protobuf has no null). Integers go in `int64_param`, or in
    `uint64_param` when only that holds them; anything but bool, int, float and str is refused.
    """
    encoded: dict[str, pb.InferParameter] = {}
    for key, value in parameters.items():
        if value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            encoded[key] = pb.InferParameter(bool_param=value)
        elif isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
            encoded[key] = pb.InferParameter(int64_param=value)
        elif isinstance(value, int) and 0 <= value <= _UINT64_MAX:
            encoded[key] = pb.InferParameter(uint64_param=value)
        elif isinstance(value, float):
            encoded[key] = pb.InferParameter(double_param=value)
        elif isinstance(value, str):
            encoded[key] = pb.InferParameter(string_param=value)
        else:
            raise errors.InvalidInput(
                f"{owner} parameter '{key}' is {type(value).__name__} {value!r:.40}; gRPC "
                "parameters are bool, int (64-bit), float or str"
            )
    return encoded


# --- inference -------------------------------------------------------------------------------


def decode_infer_request(request: pb.ModelInferRequest) -> inference.InferRequest:
    """A `ModelInferRequest` as a core `InferRequest`; malformed tensors raise `InvalidInput`."""
    inputs = [
        inference.InferInput(name, shape, datatype, array, parameters)
        for name, shape, datatype, array, parameters in _decode_tensors(
            request.inputs, request.raw_input_contents, "input"
        )
    ]
    requested = [
        inference.RequestedOutput(output.name, decode_parameters(output.parameters, "output"))
        for output in request.outputs
    ]
    return inference.InferRequest(
        request.model_name,
        inputs,
        request_id=request.id or None,
        parameters=decode_parameters(request.parameters),
        request_outputs=requested,
        model_version=request.model_version or None,
        from_grpc=True,
    )


def encode_infer_request(
    request: inference.InferRequest, *, raw: bool = True
) -> pb.ModelInferRequest:
    """A core `InferRequest` as a `ModelInferRequest`, with raw input bytes unless `raw=False`."""
    encoded, raw_contents = _encode_tensors(request.inputs, raw=raw, side="input")
    return pb.ModelInferRequest(
        model_name=request.model_name,
        model_version=request.model_version or "",
        id=request.id or "",
        parameters=encode_parameters(request.parameters),
        inputs=[pb.ModelInferRequest.InferInputTensor(**fields) for fields in encoded],
        outputs=[
            pb.ModelInferRequest.InferRequestedOutputTensor(
                name=output.name, parameters=encode_parameters(output.parameters, "output")
            )
            for output in request.request_outputs
        ],
        raw_input_contents=raw_contents,
    )


def wants_raw_output(request: pb.ModelInferRequest) -> bool:
    """Whether to answer `request` with raw output bytes: yes when it sent raw input bytes."""
    return len(request.raw_input_contents) > 0


def encode_infer_response(response: inference.InferResponse, *, raw: bool) -> pb.ModelInferResponse:
    """A core `InferResponse` as a `ModelInferResponse`; see the module docstring for `raw`.

    Outputs the wire cannot carry (an unknown datatype, data that does not fit its shape or
    datatype) are the model's fault, so they raise `InferenceError`, not `InvalidInput`.
    """
    try:
        encoded, raw_contents = _encode_tensors(response.outputs, raw=raw, side="output")
        parameters = encode_parameters(response.parameters, "response")
    except errors.InvalidInput as exc:
        raise errors.InferenceError(
            f"model '{response.model_name}' returned a response gRPC cannot carry: {exc}"
        ) from exc
    return pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version or "",
        id=response.id or "",
        parameters=parameters,
        outputs=[pb.ModelInferResponse.InferOutputTensor(**fields) for fields in encoded],
        raw_output_contents=raw_contents,
    )


def decode_infer_response(response: pb.ModelInferResponse) -> inference.InferResponse:
    """A `ModelInferResponse` as a core `InferResponse` (the client's side)."""
    outputs = [
        inference.InferOutput(name, shape, datatype, array, parameters)
        for name, shape, datatype, array, parameters in _decode_tensors(
            response.outputs, response.raw_output_contents, "output"
        )
    ]
    return inference.InferResponse(
        response.id or None,
        response.model_name,
        outputs,
        model_version=response.model_version or None,
        parameters=decode_parameters(response.parameters, "response"),
    )


class _Decoded(NamedTuple):
    name: str
    shape: list[int]
    datatype: str
    array: Array
    parameters: dict[str, Any]


def _decode_tensors(
    tensors: Sequence[_TensorMessage],
    raw: Sequence[bytes],
    side: str,
) -> list[_Decoded]:
    if raw and len(raw) != len(tensors):
        raise errors.InvalidInput(
            f"{len(raw)} raw_{side}_contents entries for {len(tensors)} {side}s; "
            f"send one entry per {side}, in the order of the {side}s"
        )
    decoded: list[_Decoded] = []
    seen: set[str] = set()
    for index, tensor in enumerate(tensors):
        if not tensor.name:
            raise errors.InvalidInput(f"{side} {index} has no name")
        what = f"{side} '{tensor.name}'"
        if tensor.name in seen:
            raise errors.InvalidInput(f"{what} appears twice")
        seen.add(tensor.name)
        shape = list(tensor.shape)
        if raw:
            if _has_contents(tensor.contents):
                raise errors.InvalidInput(
                    f"{what} sets contents while raw_{side}_contents is used; "
                    "send each tensor one way only"
                )
            array = _from_raw(what, tensor.datatype, shape, raw[index])
        else:
            array = _from_contents(what, tensor.datatype, shape, tensor.contents)
        parameters = decode_parameters(tensor.parameters, what)
        decoded.append(_Decoded(tensor.name, shape, tensor.datatype, array, parameters))
    return decoded


def _has_contents(contents: pb.InferTensorContents) -> bool:
    return any(len(getattr(contents, field)) for field in _ALL_CONTENTS_FIELDS)


def _dtype_and_count(what: str, datatype: str, shape: list[int]) -> tuple[np.dtype[Any], int]:
    try:
        return datatypes.to_numpy(datatype), datatypes.element_count(shape)
    except errors.UnsupportedDatatype as exc:
        raise errors.UnsupportedDatatype(f"{what}: {exc}") from None
    except errors.InvalidInput as exc:
        raise errors.InvalidInput(f"{what}: {exc}") from None


def _from_raw(what: str, datatype: str, shape: list[int], raw: bytes) -> Array:
    dtype, count = _dtype_and_count(what, datatype, shape)
    if datatype == "BYTES":
        return _split_bytes(what, raw, count).reshape(shape)
    needed = count * dtype.itemsize
    if len(raw) != needed:
        raise errors.InvalidInput(
            f"{what} has {len(raw)} bytes of raw data but a {datatype} tensor of shape {shape} "
            f"needs {needed}"
        )
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    if datatype == "BOOL" and array.size and array.view(np.uint8).max() > 1:
        raise errors.InvalidInput(f"{what}: raw BOOL bytes must each be 0 or 1")
    return array.reshape(shape)


def _split_bytes(what: str, raw: bytes, count: int) -> Array:
    items: list[bytes] = []
    offset, end = 0, len(raw)
    while offset < end:
        if offset + _LENGTH.size > end:
            raise errors.InvalidInput(f"{what}: raw BYTES data ends inside a length prefix")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + length > end:
            raise errors.InvalidInput(
                f"{what}: raw BYTES element {len(items)} claims {length} bytes but only "
                f"{end - offset} remain"
            )
        items.append(raw[offset : offset + length])
        offset += length
    if len(items) != count:
        raise errors.InvalidInput(
            f"{what} has {len(items)} raw BYTES elements but its shape needs {count}"
        )
    array = np.empty(len(items), dtype=np.object_)
    array[:] = items
    return array


def _from_contents(
    what: str, datatype: str, shape: list[int], contents: pb.InferTensorContents
) -> Array:
    dtype, count = _dtype_and_count(what, datatype, shape)
    field = _CONTENTS_FIELD.get(datatype)
    used = [name for name in _ALL_CONTENTS_FIELDS if len(getattr(contents, name))]
    if field is None:
        if used or count:
            raise errors.InvalidInput(
                f"{what} is {datatype}, which has no typed contents; send it as raw bytes"
            )
        return np.empty(shape, dtype=dtype)
    stray = [name for name in used if name != field]
    if stray:
        raise errors.InvalidInput(
            f"{what} is {datatype}, whose data goes in {field}, but it sets {', '.join(stray)}"
        )
    values = getattr(contents, field)
    if len(values) != count:
        raise errors.InvalidInput(
            f"{what} has {len(values)} elements in {field} but shape {shape} needs {count}"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=np.object_)
        array[:] = list(values)
        return array.reshape(shape)
    try:
        return datatypes.array_of(values, dtype).reshape(shape)
    except OverflowError as exc:
        raise errors.InvalidInput(f"{what}: a value does not fit {datatype}: {exc}") from None


def _encode_tensors(
    tensors: Sequence[inference.Tensor], *, raw: bool, side: str
) -> tuple[list[dict[str, Any]], list[bytes]]:
    raw = raw or any(tensor.datatype == "FP16" for tensor in tensors)
    encoded: list[dict[str, Any]] = []
    raw_contents: list[bytes] = []
    for tensor in tensors:
        what = f"{side} '{tensor.name}'"
        fields: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "parameters": encode_parameters(tensor.parameters, what),
        }
        array = _tensor_array(what, tensor)
        if raw:
            raw_contents.append(_to_raw(what, tensor.datatype, array))
        else:
            fields["contents"] = _to_contents(what, tensor.datatype, array)
        encoded.append(fields)
    return encoded, raw_contents


def _tensor_array(what: str, tensor: inference.Tensor) -> Array:
    dtype, count = _dtype_and_count(what, tensor.datatype, list(tensor.shape))
    array = tensor.as_numpy()
    if array.size != count:
        raise errors.InvalidInput(
            f"{what} holds {array.size} elements but its shape {list(tensor.shape)} needs {count}"
        )
    if tensor.datatype == "BYTES" or array.dtype == dtype:
        return array
    try:
        return array.astype(dtype, casting="same_kind")
    except TypeError:
        raise errors.InvalidInput(
            f"{what} is declared {tensor.datatype} but holds {array.dtype} data"
        ) from None


def _bytes_elements(what: str, array: Array) -> list[bytes]:
    elements: list[bytes] = []
    for item in array.reshape(-1).tolist():
        if isinstance(item, bytes):
            elements.append(item)
        elif isinstance(item, str):
            elements.append(item.encode("utf-8"))
        else:
            raise errors.InvalidInput(
                f"{what} is BYTES but holds a {type(item).__name__}; use bytes or str"
            )
    return elements


def _to_raw(what: str, datatype: str, array: Array) -> bytes:
    if datatype == "BYTES":
        parts: list[bytes] = []
        for element in _bytes_elements(what, array):
            parts.append(_LENGTH.pack(len(element)))
            parts.append(element)
        return b"".join(parts)
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _to_contents(what: str, datatype: str, array: Array) -> pb.InferTensorContents:
    field = _CONTENTS_FIELD[datatype]
    if datatype == "BYTES":
        return pb.InferTensorContents(bytes_contents=_bytes_elements(what, array))
    return pb.InferTensorContents(**{field: array.reshape(-1).tolist()})


# --- metadata --------------------------------------------------------------------------------


def encode_server_metadata(metadata: Mapping[str, Any]) -> pb.ServerMetadataResponse:
    """The REST server metadata dict (`name`, `version`, `extensions`) as its gRPC message."""
    return pb.ServerMetadataResponse(
        name=metadata["name"],
        version=metadata.get("version") or "",
        extensions=list(metadata.get("extensions") or []),
    )


def decode_server_metadata(message: pb.ServerMetadataResponse) -> dict[str, Any]:
    """A `ServerMetadataResponse` as the dict the REST endpoint returns."""
    return {
        "name": message.name,
        "version": message.version,
        "extensions": list(message.extensions),
    }


def encode_model_metadata(metadata: Mapping[str, Any]) -> pb.ModelMetadataResponse:
    """The REST model metadata dict as a `ModelMetadataResponse`.

    The dict is `{"name", "versions", "platform", "inputs", "outputs"}` with each tensor as
    `{"name", "datatype", "shape"}`; tensor `parameters`, which gRPC has no field for, are dropped.
    """
    return pb.ModelMetadataResponse(
        name=metadata["name"],
        versions=[str(version) for version in metadata.get("versions") or []],
        platform=metadata.get("platform") or "",
        inputs=_tensor_metadata(metadata.get("inputs") or []),
        outputs=_tensor_metadata(metadata.get("outputs") or []),
    )


def decode_model_metadata(message: pb.ModelMetadataResponse) -> dict[str, Any]:
    """A `ModelMetadataResponse` as the dict the REST endpoint returns."""

    def tensors(items: Iterable[pb.ModelMetadataResponse.TensorMetadata]) -> list[dict[str, Any]]:
        return [
            {"name": item.name, "datatype": item.datatype, "shape": list(item.shape)}
            for item in items
        ]

    return {
        "name": message.name,
        "versions": list(message.versions),
        "platform": message.platform,
        "inputs": tensors(message.inputs),
        "outputs": tensors(message.outputs),
    }


def _tensor_metadata(
    tensors: Iterable[Mapping[str, Any]],
) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(
            name=tensor["name"], datatype=tensor["datatype"], shape=list(tensor["shape"])
        )
        for tensor in tensors
    ]


# --- model repository extension --------------------------------------------------------------


def repository_model_name(request: RepositoryRequest) -> str:
    """The model a load or unload request names, whichever client layout it uses.

    Triton's client puts the model name in field 2 (`triton_model_name`) and a repository name in
    field 1; KServe's puts the model name in field 1 (`model_name`). Field 2 wins when set.
    """
    name = request.triton_model_name or request.model_name
    if not name:
        raise errors.InvalidInput("the repository request names no model")
    return name


def repository_name(request: RepositoryRequest) -> str | None:
    """The repository a Triton-layout request names, or None (KServe's layout names none)."""
    if request.triton_model_name and request.model_name:
        return request.model_name
    return None


def repository_parameters(request: RepositoryRequest) -> dict[str, bool | int | str | bytes]:
    """A load or unload request's parameters (Triton's `config` JSON, `file:` contents, ...)."""
    return decode_parameters(request.parameters, "repository")


def encode_repository_index(models: Iterable[Mapping[str, Any]]) -> pb.RepositoryIndexResponse:
    """The REST repository index (`[{"name", "version", "state", "reason"}]`) as its message."""
    return pb.RepositoryIndexResponse(
        models=[
            pb.RepositoryIndexResponse.ModelIndex(
                name=model["name"],
                version=str(model.get("version") or ""),
                state=model.get("state") or "",
                reason=model.get("reason") or "",
            )
            for model in models
        ]
    )


def decode_repository_index(message: pb.RepositoryIndexResponse) -> list[dict[str, str]]:
    """A `RepositoryIndexResponse` as the REST repository index list."""
    return [
        {"name": model.name, "version": model.version, "state": model.state, "reason": model.reason}
        for model in message.models
    ]
