"""Named tensors in and out of deep-learning runtimes (ONNX, PyTorch), checked against a signature.

A tensor runtime knows, from its graph or from declarations, the inputs it takes: a name, a
datatype and a shape in which -1 is any size. A V2 request is matched to them by name, and every
mistake a client can make (an input missing, one the model does not have, the wrong datatype,
the wrong rank or size) is refused here with a message naming the input and what it should be,
before a framework answers with its own error. A V1 body (`{"instances": [...]}`) fills the one
input of a single-input model, its rows stacked and cast to the input's datatype.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferInput, InferOutput, InferRequest

Array = np.ndarray[Any, Any]

#: The datatype of V1 rows for a model that declares no inputs.
DEFAULT_DATATYPE = "FP32"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model as V2 metadata shows it; -1 is a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def describe(self) -> str:
        return f"'{self.name}' ({self.datatype} {list(self.shape)})"

    def fits(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.shape) and all(
            want < 0 or want == got for want, got in zip(self.shape, shape, strict=True)
        )


def from_v2(request: InferRequest, specs: Sequence[TensorSpec], model_name: str) -> list[Array]:
    """The request's input arrays in the order of `specs`; in the request's order without specs."""
    if not request.inputs:
        raise errors.InvalidInput(f"model '{model_name}' got no inputs; {_expects(specs)}")
    given = {tensor.name: tensor for tensor in request.inputs}
    if len(given) != len(request.inputs):
        raise errors.InvalidInput(f"model '{model_name}': each input name may appear once")
    if not specs:
        return [tensor.as_numpy() for tensor in request.inputs]
    known = {spec.name for spec in specs}
    for name in given:
        if name not in known:
            raise errors.InvalidInput(
                f"model '{model_name}' has no input '{name}'; {_expects(specs)}"
            )
    arrays = []
    for spec in specs:
        tensor = given.get(spec.name)
        if tensor is None:
            raise errors.InvalidInput(
                f"model '{model_name}' is missing input {spec.describe()}; {_expects(specs)}"
            )
        if tensor.datatype != spec.datatype:
            raise errors.InvalidInput(
                f"model '{model_name}': input '{spec.name}' is {tensor.datatype}, but the model "
                f"takes {spec.datatype} {list(spec.shape)}; send it as {spec.datatype}"
            )
        arrays.append(checked(spec, tensor.as_numpy(), model_name))
    return arrays


def from_v1(body: dict[str, Any], specs: Sequence[TensorSpec], model_name: str) -> Array:
    """The V1 rows as the one input of a single-input model, cast to its datatype."""
    if len(specs) > 1:
        raise errors.InvalidInput(
            f"model '{model_name}' takes {len(specs)} inputs, which a V1 \"instances\" list "
            f"cannot name; send a V2 request (POST /v2/models/{model_name}/infer). "
            f"{_expects(specs)}"
        )
    spec = specs[0] if specs else None
    key = "inputs" if "inputs" in body else "instances"
    rows = body.get(key)
    if not isinstance(rows, list) or not rows:
        raise errors.InvalidInput(
            f"model '{model_name}': a V1 request needs \"instances\", a non-empty list of rows "
            f"(one per example); got {_kind(rows)}"
        )
    datatype = spec.datatype if spec is not None else DEFAULT_DATATYPE
    if datatype == "BYTES":
        array = InferInput(key, np.shape(rows), datatype, rows).as_numpy()
    else:
        try:
            array = np.asarray(rows)
        except ValueError:
            raise errors.InvalidInput(
                f"model '{model_name}': \"{key}\" rows differ in shape; every row must have "
                "the same shape"
            ) from None
        if array.dtype.kind not in "biuf":
            raise errors.InvalidInput(
                f"model '{model_name}': \"{key}\" must hold only numbers "
                f"(the input is {datatype}); got {array.dtype.kind!r}-kind values"
            )
        array = array.astype(datatypes.to_numpy(datatype), copy=False)
    return checked(spec, array, model_name) if spec is not None else array


def checked(spec: TensorSpec, array: Array, model_name: str) -> Array:
    """`array` when its shape fits `spec`; `InvalidInput` naming both otherwise."""
    if not spec.fits(array.shape):
        raise errors.InvalidInput(
            f"model '{model_name}': input '{spec.name}' has shape {list(array.shape)}, but the "
            f"model takes {list(spec.shape)} (-1: any size); reshape it to match"
        )
    return array


def to_output(name: str, array: Array) -> InferOutput:
    """One V2 output; strings become BYTES elements (UTF-8)."""
    if array.dtype.kind in "OUS":
        flat = np.empty(array.size, dtype=np.object_)
        flat[:] = [
            item if isinstance(item, bytes) else str(item).encode("utf-8")
            for item in array.reshape(-1).tolist()
        ]
        array = flat.reshape(array.shape)
    return InferOutput(name, list(array.shape), datatypes.from_numpy(array.dtype), array)


def _expects(specs: Sequence[TensorSpec]) -> str:
    if not specs:
        return "send its inputs in the order the model takes them"
    return "it takes " + ", ".join(spec.describe() for spec in specs)


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    return "an empty list" if value == [] else f"a {type(value).__name__}"
