"""Tabular payloads to 2-D arrays and back, for every tabular runtime at once.

A V1 body carries rows as JSON lists (`{"instances": [[...], ...]}`, or `"inputs"`); a V2
request carries one `[rows, features]` tensor. Both become a float array here, checked for the
mistakes clients actually make (ragged rows, strings, a flat list instead of a list of rows), so
that no framework ever sees malformed data and answers with its own cryptic error. Results go
back in the payload's own kind: a V1 dict of plain Python values, or V2 output tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferOutput, InferRequest

Array = np.ndarray[Any, Any]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_EXAMPLE = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


def decode(payload: Any, model_name: str) -> Array:
    """The rows of a V1 body or a V2 request as a 2-D float array."""
    if isinstance(payload, InferRequest):
        return _from_v2(payload, model_name)
    if isinstance(payload, dict):
        return _from_v1(payload, model_name)
    raise errors.InvalidInput(
        f"model '{model_name}' takes a V1 JSON body or a V2 inference request, "
        f"not a {type(payload).__name__}"
    )


def proba_requested(payload: Any) -> bool:
    """Whether the request's parameters ask for `predict_proba` (`true`, or "true" via gRPC)."""
    params = payload.parameters if isinstance(payload, InferRequest) else payload.get("parameters")
    value = params.get("predict_proba") if isinstance(params, dict) else None
    return value is True or (isinstance(value, str) and value.lower() == "true")


def to_v1(result: Array) -> dict[str, Any]:
    # tolist() turns numpy scalars into Python ones, so integer labels stay JSON integers.
    return {"predictions": result.tolist()}


def to_output(name: str, result: Array) -> InferOutput:
    """One V2 output tensor; string labels become BYTES (object arrays of UTF-8 bytes)."""
    if result.dtype.kind in "OUS":
        encoded = [
            item if isinstance(item, bytes) else str(item).encode("utf-8")
            for item in result.reshape(-1).tolist()
        ]
        flat = np.empty(len(encoded), dtype=np.object_)
        flat[:] = encoded
        result = flat.reshape(result.shape)
    return InferOutput(name, list(result.shape), datatypes.from_numpy(result.dtype), result)


def _from_v1(body: dict[str, Any], model_name: str) -> Array:
    # KServe reads "inputs" before "instances"; do the same so that ported clients agree.
    key = "inputs" if "inputs" in body else "instances"
    if key not in body:
        raise errors.InvalidInput(
            f"model '{model_name}': a V1 request needs \"instances\", a list of rows, "
            f"for example {_EXAMPLE}"
        )
    rows = body[key]
    if not isinstance(rows, list) or not rows:
        what = "empty" if isinstance(rows, list) else f"a {type(rows).__name__}"
        raise errors.InvalidInput(
            f"model '{model_name}': \"{key}\" is {what}; send a list of rows, such as {_EXAMPLE}"
        )
    try:
        array = np.asarray(rows)
    except ValueError:
        raise errors.InvalidInput(f"model '{model_name}': {_ragged(rows, key)}") from None
    if array.ndim != 2:
        raise errors.InvalidInput(
            f"model '{model_name}': \"{key}\" must be a list of rows, each a flat list of "
            f"numbers in the model's feature order, such as {_EXAMPLE}"
        )
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)
    # numpy turned the rows into strings or objects: find the value to blame in what was sent.
    for row in rows:
        for value in row:
            if value is not None and not isinstance(value, int | float):
                raise errors.InvalidInput(
                    f"model '{model_name}': feature value {value!r} is not a number; "
                    "every feature must be a number (or null for a missing value)"
                )
    # Only numbers and nulls are left; null is a missing value, which NaN carries.
    return np.array(rows, dtype=np.float64)


def _from_v2(request: InferRequest, model_name: str) -> Array:
    if len(request.inputs) != 1:
        given = ", ".join(tensor.name for tensor in request.inputs) or "none"
        raise errors.InvalidInput(
            f"model '{model_name}' takes one input tensor of shape [rows, features]; "
            f"got {len(request.inputs)} ({given})"
        )
    tensor = request.inputs[0]
    if tensor.datatype == "BYTES":
        raise errors.InvalidInput(
            f"model '{model_name}': input '{tensor.name}' is BYTES; features must be numbers "
            "(FP32 or FP64)"
        )
    array = tensor.as_numpy()
    if array.ndim != 2 or array.shape[0] == 0:
        raise errors.InvalidInput(
            f"model '{model_name}': input '{tensor.name}' has shape {list(array.shape)}; "
            "send a [rows, features] tensor with at least one row"
        )
    return array if array.dtype in _FLOATS else array.astype(np.float64)


def _ragged(rows: list[Any], key: str) -> str:
    width = len(rows[0]) if isinstance(rows[0], list) else None
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            return f'"{key}"[{index}] is a {type(row).__name__}, not a row (a list of numbers)'
        if len(row) != width:
            return f"rows differ in length: row 0 has {width} values, row {index} has {len(row)}"
    return f'"{key}" must be a list of rows of numbers, all of the same length'
