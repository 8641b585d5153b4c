"""TF Serving's REST predict format: JSON bodies to named arrays and named arrays to answers.

KServe serves TensorFlow with TF Serving itself, so a client of `/v1/models/NAME:predict`
expects TF Serving's two forms, which this module reads and writes for the TensorFlow runtime:

- row form: `{"instances": [...]}` answered by `{"predictions": [...]}`. With one input a row is
  that input's value; with several, a row is an object naming each input. With one output a
  prediction is its row; with several, an object naming each output.
- columnar form: `{"inputs": ...}` answered by `{"outputs": ...}`: the one input's whole value,
  or an object of input name to value; likewise the output, or an object of outputs.

Strings travel as JSON strings; binary strings as `{"b64": "..."}`, which TF Serving also uses
in answers for outputs whose name ends in `_bytes` (and here for bytes that are not UTF-8).
Framework-free: the runtime hands over arrays and the signature's `TensorSpec`s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelplane.core import datatypes, errors
from modelplane.runtimes import tensors
from modelplane.runtimes.tensors import Array, TensorSpec


def decode(body: dict[str, Any], specs: Sequence[TensorSpec], model: str) -> list[Array]:
    """The body's input arrays in the order of `specs`, cast to their datatypes and checked."""
    if "instances" in body and "inputs" in body:
        raise errors.InvalidInput(
            f'model \'{model}\': send "instances" (rows) or "inputs" (columns), not both'
        )
    columnar = "inputs" in body
    value = _unwrap(body.get("inputs" if columnar else "instances"))
    named = isinstance(value, dict) if columnar else _all_objects(value)
    if not named:
        if len(specs) > 1:
            raise errors.InvalidInput(
                f"model '{model}' takes {len(specs)} inputs: send each instance as an object "
                f'naming them, or "inputs" as an object of columns, or a V2 request; '
                f"it takes {_describe(specs)}"
            )
        if specs and specs[0].datatype == "BYTES" and isinstance(value, list) and value:
            return [_array(value, specs[0], model)]
        return [tensors.from_v1({"inputs" if columnar else "instances": value}, specs, model)]
    if columnar:
        columns: dict[str, Any] = value
    else:
        columns = {name: [row.get(name) for row in value] for name in value[0]}
        if any(set(row) != set(columns) for row in value):
            raise errors.InvalidInput(
                f"model '{model}': every instance must name the same inputs; "
                f"it takes {_describe(specs)}"
            )
    known = {spec.name for spec in specs}
    for name in columns:
        if name not in known:
            raise errors.InvalidInput(
                f"model '{model}' has no input '{name}'; it takes {_describe(specs)}"
            )
    arrays = []
    for spec in specs:
        if spec.name not in columns:
            raise errors.InvalidInput(
                f"model '{model}' is missing input {spec.describe()}; it takes {_describe(specs)}"
            )
        arrays.append(_array(columns[spec.name], spec, model))
    return arrays


def encode(results: dict[str, Array], columnar: bool, model: str) -> dict[str, Any]:
    """The answer to a body of the given form: `outputs` for columns, `predictions` for rows."""
    if columnar:
        if len(results) == 1:
            [(name, array)] = results.items()
            return {"outputs": _jsonable(name, array)}
        return {"outputs": {name: _jsonable(name, array) for name, array in results.items()}}
    if len(results) == 1:
        [(name, array)] = results.items()
        return {"predictions": _jsonable(name, array)}
    sizes = {name: array.shape[0] if array.ndim else None for name, array in results.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise errors.InvalidInput(
            f"model '{model}': its outputs differ in batch size ({sizes}), so they cannot be "
            'answered as rows; send "inputs" (columnar form) or a V2 request'
        )
    columns = {name: _jsonable(name, array) for name, array in results.items()}
    rows = next(iter(sizes.values())) or 0
    return {"predictions": [{name: col[i] for name, col in columns.items()} for i in range(rows)]}


def is_columnar(body: dict[str, Any]) -> bool:
    return "inputs" in body


def _array(value: Any, spec: TensorSpec, model: str) -> Array:
    if spec.datatype == "BYTES":
        shaped = np.array(value, dtype=np.object_)
        array = _objects([_as_bytes(item, spec.name, model) for item in shaped.reshape(-1)])
        array = array.reshape(shaped.shape)
    else:
        try:
            array = np.asarray(value)
        except ValueError:
            raise errors.InvalidInput(
                f"model '{model}': input '{spec.name}' is ragged; every row must have the "
                "same shape"
            ) from None
        if array.dtype.kind not in "biuf":
            raise errors.InvalidInput(
                f"model '{model}': input '{spec.name}' must hold only numbers "
                f"(it is {spec.datatype}); got {array.dtype.kind!r}-kind values"
            )
        array = array.astype(datatypes.to_numpy(spec.datatype), copy=False)
    return tensors.checked(spec, array, model)


def _as_bytes(item: Any, name: str, model: str) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes):
        return item
    if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
        try:
            return base64.b64decode(item["b64"], validate=True)
        except binascii.Error:
            raise errors.InvalidInput(
                f"model '{model}': input '{name}' has a \"b64\" value that is not base64"
            ) from None
    raise errors.InvalidInput(
        f"model '{model}': input '{name}' takes strings, or {{\"b64\": ...}} for binary; "
        f"got a {type(item).__name__}"
    )


def _unwrap(value: Any) -> Any:
    """A `{"b64": ...}` object is a value, not an object of named inputs."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return [value]
    return value


def _all_objects(rows: Any) -> bool:
    return (
        isinstance(rows, list)
        and bool(rows)
        and all(isinstance(row, dict) and set(row) != {"b64"} for row in rows)
    )


def _jsonable(name: str, array: Array) -> Any:
    if array.dtype.kind not in "OSU":
        return array.tolist()
    binary = name.endswith("_bytes")
    flat = _objects([_string(item, binary) for item in array.reshape(-1).tolist()])
    return flat.reshape(array.shape).tolist()


def _objects(items: list[Any]) -> Array:
    """A flat object array of `items`, never split further (a list element stays one item)."""
    flat = np.empty(len(items), dtype=np.object_)
    flat[:] = items
    return flat


def _string(item: Any, binary: bool) -> Any:
    if isinstance(item, str):
        return item
    if not binary:
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(item).decode("ascii")}


def _describe(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(spec.describe() for spec in specs)
