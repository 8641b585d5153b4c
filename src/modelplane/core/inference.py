"""Inference requests and responses in plain Python, free of any wire format.

The names and methods follow KServe's `InferRequest`/`InferInput`/`InferResponse`/`InferOutput`
(`as_numpy`, `set_data_from_numpy`, `inputs`, `outputs`, `id`, `parameters`), so KServe custom
models port by changing their import. A tensor keeps what it was built from (a JSON list or a
numpy array) and converts on first use, so a tensor that arrived as raw bytes is never copied
into a list and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelplane.core import datatypes, errors

Parameters = dict[str, Any]


class Tensor:
    """A named, typed, shaped tensor: the common part of inputs and outputs."""

    __slots__ = ("_array", "_data", "_shape", "datatype", "name", "parameters")

    def __init__(
        self,
        name: str,
        shape: Sequence[int],
        datatype: str,
        data: Any = None,
        parameters: Parameters | None = None,
    ) -> None:
        self.name = name
        self._shape = list(shape)
        self.datatype = datatype
        self.parameters: Parameters = parameters if parameters is not None else {}
        self._data: Any = None
        self._array: np.ndarray[Any, Any] | None = None
        if isinstance(data, np.ndarray):
            self._array = data
        else:
            self._data = data

    @property
    def shape(self) -> list[int]:
        return self._shape

    @shape.setter
    def shape(self, value: Sequence[int]) -> None:
        self._shape = list(value)

    @property
    def data(self) -> Any:
        """The data as given, or as a (nested) list when it was given as an array."""
        if self._data is None and self._array is not None:
            return self._array.tolist()
        return self._data

    def set_data_from_numpy(self, array: np.ndarray[Any, Any], binary_data: bool = True) -> None:
        """Set the tensor from an array whose dtype must match this tensor's datatype.

        `binary_data` is accepted for KServe compatibility; the response encoding is chosen by
        the request (`binary_data_output`), not by the model.
        """
        if not isinstance(array, np.ndarray):
            raise errors.InvalidInput(f"tensor '{self.name}': expected a numpy array")
        actual = datatypes.from_numpy(array.dtype)
        if actual != self.datatype:
            raise errors.InvalidInput(
                f"tensor '{self.name}' is {self.datatype} but the array is {array.dtype} ({actual})"
            )
        self._array = array
        self._data = None
        self._shape = list(array.shape)

    def as_numpy(self) -> np.ndarray[Any, Any]:
        """The tensor as an array of its datatype and shape (built once, then reused)."""
        if self._array is None:
            self._array = _to_array(self.name, self._data, self._shape, self.datatype)
        return self._array

    def as_string(self) -> list[str]:
        """A BYTES tensor's elements decoded as UTF-8, flattened."""
        if self.datatype != "BYTES":
            raise errors.InvalidInput(f"tensor '{self.name}' is {self.datatype}, not BYTES")
        out = []
        for item in self.as_numpy().reshape(-1):
            out.append(item.decode("utf-8") if isinstance(item, bytes) else str(item))
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, shape={self._shape}, "
            f"datatype={self.datatype!r})"
        )


class InferInput(Tensor):
    """One input tensor of a request."""


class InferOutput(Tensor):
    """One output tensor of a response."""


class RequestedOutput:
    """An output the client asked for by name, with its parameters (`binary_data`, ...)."""

    __slots__ = ("name", "parameters")

    def __init__(self, name: str, parameters: Parameters | None = None) -> None:
        self.name = name
        self.parameters: Parameters = parameters if parameters is not None else {}

    def __repr__(self) -> str:
        return f"RequestedOutput(name={self.name!r})"


class InferRequest:
    """An inference request: inputs, the outputs wanted, an id and parameters."""

    def __init__(
        self,
        model_name: str,
        infer_inputs: list[InferInput],
        request_id: str | None = None,
        parameters: Parameters | None = None,
        request_outputs: list[RequestedOutput] | None = None,
        model_version: str | None = None,
        from_grpc: bool = False,
    ) -> None:
        self.model_name = model_name
        #: True when the request arrived over gRPC (KServe models branch on it).
        self.from_grpc = from_grpc
        self.inputs = infer_inputs
        self.id = request_id
        self.parameters: Parameters = parameters if parameters is not None else {}
        self.request_outputs = request_outputs if request_outputs is not None else []
        self.model_version = model_version

    def get_input_by_name(self, name: str) -> InferInput | None:
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        return None

    def __repr__(self) -> str:
        return f"InferRequest(model_name={self.model_name!r}, id={self.id!r}, inputs={self.inputs})"


class InferResponse:
    """An inference response: outputs, the id of the request it answers, parameters."""

    def __init__(
        self,
        response_id: str | None,
        model_name: str,
        infer_outputs: list[InferOutput],
        model_version: str | None = None,
        parameters: Parameters | None = None,
        from_grpc: bool = False,
    ) -> None:
        self.id = response_id
        self.from_grpc = from_grpc
        self.model_name = model_name
        self.outputs = infer_outputs
        self.model_version = model_version
        self.parameters: Parameters = parameters if parameters is not None else {}

    def get_output_by_name(self, name: str) -> InferOutput | None:
        for tensor in self.outputs:
            if tensor.name == name:
                return tensor
        return None

    def __repr__(self) -> str:
        return (
            f"InferResponse(model_name={self.model_name!r}, id={self.id!r}, outputs={self.outputs})"
        )


def _to_array(name: str, data: Any, shape: list[int], datatype: str) -> np.ndarray[Any, Any]:
    dtype = datatypes.to_numpy(datatype)
    expected = datatypes.element_count(shape)
    if data is None:
        raise errors.InvalidInput(f"input '{name}' has no data")
    try:
        if datatype == "BYTES":
            array = _bytes_array(data)
        else:
            array = datatypes.array_of(data, dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise errors.InvalidInput(f"input '{name}': data is not valid {datatype}: {exc}") from None
    if array.size != expected:
        raise errors.InvalidInput(
            f"input '{name}' has {array.size} elements but shape {shape} needs {expected}"
        )
    return array.reshape(shape)


def _bytes_array(data: Any) -> np.ndarray[Any, Any]:
    flat: list[bytes] = []
    _flatten_bytes(data, flat)
    array = np.empty(len(flat), dtype=np.object_)
    array[:] = flat
    return array


def _flatten_bytes(data: Any, out: list[bytes]) -> None:
    if isinstance(data, bytes):
        out.append(data)
    elif isinstance(data, str):
        out.append(data.encode("utf-8"))
    elif isinstance(data, (list, tuple)):
        for item in data:
            _flatten_bytes(item, out)
    elif isinstance(data, np.ndarray):
        _flatten_bytes(data.tolist(), out)
    else:
        raise TypeError(f"BYTES elements must be strings, got {type(data).__name__}")
