"""The ONNX runtime: a `*.onnx` graph run by ONNX Runtime.

The graph says everything V2 metadata needs: each input's and output's name, element type and
shape (symbolic or unknown dimensions become -1), so requests are checked against it before ONNX
Runtime sees them. A V2 request names its inputs as the graph does, and may ask for some outputs
only: ONNX Runtime then computes just those. Outputs that are not tensors (the sequences of maps
that `skl2onnx` writes for classifier probabilities unless `zipmap` is off) have no Open
Inference Protocol form; they are left out of metadata and answers, with a warning at load.

`threads` sets the session's intra-op thread count; `device` picks the execution provider
(`cuda[:N]` needs `onnxruntime-gpu`; by default CUDA is used when the installed build has it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.core import errors
from modelplane.runtimes import tensor_model
from modelplane.runtimes.tensors import Array, TensorSpec

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# ONNX tensor element types as ONNX Runtime names them, and their OIP datatypes.
_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


class ONNXModel(tensor_model.TensorModel):
    """An ONNX graph served through an `onnxruntime.InferenceSession`."""

    platform = "onnx"
    model_extensions = (".onnx",)

    _session: Any = None
    #: Each input's dimension names (`"N"`, `"batch"`), None where a dimension has none.
    _symbols: tuple[tuple[str | None, ...], ...] = ()

    def _open(self, path: Path) -> tensor_model.Signature:
        # Imported here, not at the top, so that choosing a runtime stays free of ONNX Runtime.
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        providers = _providers(self.device, onnxruntime.get_available_providers())
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=providers
        )
        inputs = []
        for arg in self._session.get_inputs():
            spec = _spec(arg)
            if spec is None:
                raise errors.ModelLoadError(
                    f"{path}: input '{arg.name}' is {arg.type}, which the Open Inference "
                    "Protocol cannot carry; export the model with tensor inputs of a standard type"
                )
            inputs.append(spec)
        self._symbols = tuple(_symbols(arg) for arg in self._session.get_inputs())
        outputs = []
        for arg in self._session.get_outputs():
            spec = _spec(arg)
            if spec is None:
                log.warning(
                    "model '%s': output '%s' is %s, not a tensor the Open Inference Protocol "
                    "can carry; it is left out of answers",
                    self.name,
                    arg.name,
                    arg.type,
                )
                continue
            outputs.append(spec)
        if not outputs:
            raise errors.ModelLoadError(
                f"{path} has no tensor outputs; export it with at least one tensor output"
            )
        return inputs, outputs

    def _run(self, arrays: list[Array], wanted: list[str] | None) -> dict[str, Array]:
        self._check_symbols(arrays)
        names = wanted or [spec.name for spec in self.outputs]
        feed = {}
        for spec, array in zip(self.inputs, arrays, strict=True):
            # ONNX Runtime takes strings, where the Open Inference Protocol carries bytes.
            feed[spec.name] = _as_strings(array) if spec.datatype == "BYTES" else array
        results = self._session.run(names, feed)
        return dict(zip(names, results, strict=True))

    def _close(self) -> None:
        self._session = None

    def _input_errors(self) -> tuple[type[Exception], ...]:
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        return (*super()._input_errors(), state.InvalidArgument)

    def _check_symbols(self, arrays: list[Array]) -> None:
        # ONNX Runtime checks a shared dimension only when a node meets it, as a generic failure.
        seen: dict[str, tuple[int, str]] = {}
        for spec, symbols, array in zip(self.inputs, self._symbols, arrays, strict=True):
            for symbol, size in zip(symbols, array.shape, strict=True):
                if symbol is None:
                    continue
                first = seen.setdefault(symbol, (size, spec.name))
                if first[0] != size:
                    raise errors.InvalidInput(
                        f"model '{self.name}': input '{spec.name}' has {size} in dimension "
                        f"'{symbol}', which is {first[0]} in input '{first[1]}'; inputs sharing "
                        "a dimension name must agree on its size"
                    )

    @property
    def session_options(self) -> Any:
        """The loaded session's `SessionOptions` (threads and the like)."""
        return None if self._session is None else self._session.get_session_options()


def _spec(arg: Any) -> TensorSpec | None:
    datatype = _DATATYPES.get(arg.type)
    if datatype is None:
        return None
    shape = arg.shape if isinstance(arg.shape, list) else []
    dims = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in shape)
    return TensorSpec(arg.name, datatype, dims)


def _symbols(arg: Any) -> tuple[str | None, ...]:
    shape = arg.shape if isinstance(arg.shape, list) else []
    return tuple(dim if isinstance(dim, str) and dim else None for dim in shape)


def _providers(device: str | None, available: list[str]) -> list[Any]:
    chosen = tensor_model.parse_device(device)
    if chosen is None:
        return [CUDA, CPU] if CUDA in available else [CPU]
    kind, index = chosen
    if kind == "cpu":
        return [CPU]
    if CUDA not in available:
        raise errors.ModelLoadError(
            f"--device {device} asks for CUDA, but this ONNX Runtime has only "
            f"{', '.join(available)}; install onnxruntime-gpu, or pass --device cpu"
        )
    return [(CUDA, {"device_id": index}), CPU]


def _as_strings(array: Array) -> Array:
    flat = [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in array.flat]
    return np.array(flat, dtype=np.object_).reshape(array.shape)
