"""The TensorFlow runtime: a SavedModel (TF 2 or TF 1) served through its signatures.

A SavedModel is a directory: `saved_model.pb` (or `.pbtxt`) beside `variables/`. As TF Serving
reads a model base path, the directory may instead hold numbered versions (`1/`, `2/`, each a
SavedModel); the highest is served. The model's `serving_default` signature is what V2 metadata
describes and requests run (its inputs and outputs: names, datatypes, shapes with -1 for any
size); a V1 body's `signature_name`, or a V2 request's parameter of that name, picks another.

V1 answers in TF Serving's REST format (`tf_serving`): rows (`instances` -> `predictions`) or
columns (`inputs` -> `outputs`), named inputs and outputs for multi-input signatures, `b64`
strings. `device` is `cpu` or `cuda[:N]` (a GPU build of TensorFlow); `threads` sets TensorFlow's
intra-op pool, which only takes effect before TensorFlow first runs anything in the process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelplane.core import errors, model
from modelplane.core.inference import InferRequest, InferResponse
from modelplane.runtimes import files, tensor_model, tensors, tf_serving
from modelplane.runtimes.tensors import Array, TensorSpec

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_DATATYPES = {
    "float16": "FP16", "float32": "FP32", "float64": "FP64", "bool": "BOOL", "string": "BYTES",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
}  # fmt: skip


@dataclass(frozen=True)
class AnyRank(TensorSpec):
    """An input declared without a rank: TensorFlow takes any shape, so nothing is checked."""

    def fits(self, shape: Any) -> bool:
        return True


@dataclass(frozen=True)
class Signature:
    function: Any
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class TensorFlowModel(tensor_model.TensorModel):
    """A SavedModel loaded with `tf.saved_model.load`, run through its signature functions."""

    platform = "tensorflow"
    model_extensions: ClassVar[tuple[str, ...]] = MODEL_FILES

    def __init__(self, name: str, model_dir: Path | None = None, **options: Any) -> None:
        super().__init__(name, model_dir, **options)
        self._signatures: dict[str, Signature] = {}
        self._loaded: Any = None  # the signatures' variables live as long as this object
        self._device: str | None = None

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return path.name in MODEL_FILES

    @classmethod
    def find_model_file(cls, model_dir: Path | None) -> Path:
        """`saved_model.pb(txt)` at the top, or in the highest numbered version directory."""
        found = files.listing(model_dir, cls.platform)
        if any(cls.recognises(path) for path in found) or model_dir is None:
            return super().find_model_file(model_dir)
        versions = sorted(
            (int(sub.name), sub)
            for sub in (model_dir.iterdir() if model_dir.is_dir() else ())
            if sub.is_dir() and sub.name.isdigit()
            and any((sub / name).is_file() for name in MODEL_FILES)
        )  # fmt: skip
        if not versions:
            raise errors.ModelLoadError(
                f"no tensorflow model in {model_dir}: expected a SavedModel (saved_model.pb and "
                f"variables/), or numbered version directories holding one; found "
                f"{files.names(found)}. Write one with tf.saved_model.save(module, path)"
            )
        return super().find_model_file(versions[-1][1])

    def predict(self, payload: Any, headers: model.Headers | None = None) -> model.Result:
        if not self.ready:
            raise errors.ModelNotReady(self.name)
        if isinstance(payload, InferRequest):
            signature = self._signature(payload.parameters.get("signature_name"))
            arrays = tensors.from_v2(payload, signature.inputs, self.name)
            wanted = [output.name for output in payload.request_outputs] or None
            results = self._call(signature, arrays, wanted)
            outputs = [tensors.to_output(name, array) for name, array in results.items()]
            return InferResponse(payload.id, self.name, outputs, model_version=self.version)
        if isinstance(payload, dict):
            signature = self._signature(payload.get("signature_name"))
            arrays = tf_serving.decode(payload, signature.inputs, self.name)
            results = self._call(signature, arrays, None)
            return tf_serving.encode(results, tf_serving.is_columnar(payload), self.name)
        raise errors.InvalidInput(
            f"model '{self.name}' takes a V1 JSON body or a V2 inference request, "
            f"not a {type(payload).__name__}"
        )

    def _open(self, path: Path) -> tensor_model.Signature:
        # TensorFlow's C++ INFO lines (oneDNN, CPU features) drown the server's own log.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        # Imported here, not at the top, so that choosing a runtime stays free of TensorFlow.
        import tensorflow as tf

        self._threads(tf)
        self._device = _device(tf, self.device)
        loaded = tf.saved_model.load(str(path.parent), tags=["serve"])
        self._signatures = {
            name: _signature(function) for name, function in loaded.signatures.items()
        }
        self._loaded = loaded
        default = self._signatures.get(DEFAULT_SIGNATURE)
        if default is None:
            raise errors.ModelLoadError(
                f"{path.parent} has no '{DEFAULT_SIGNATURE}' signature (it has "
                f"{', '.join(self._signatures) or 'none'}); save it with "
                f"tf.saved_model.save(module, path, signatures={{'{DEFAULT_SIGNATURE}': fn}})"
            )
        return default.inputs, default.outputs

    def _run(self, arrays: list[Array], wanted: list[str] | None) -> dict[str, Array]:
        return self._run_signature(self._signatures[DEFAULT_SIGNATURE], arrays, wanted)

    def _close(self) -> None:
        self._signatures = {}
        self._loaded = None

    def _input_errors(self) -> tuple[type[Exception], ...]:
        import tensorflow as tf

        return (*super()._input_errors(), tf.errors.InvalidArgumentError)

    def _signature(self, name: Any) -> Signature:
        if name is None or name == "":
            name = DEFAULT_SIGNATURE
        signature = self._signatures.get(name) if isinstance(name, str) else None
        if signature is None:
            raise errors.InvalidInput(
                f"model '{self.name}' has no signature {name!r}; its signatures are "
                f"{', '.join(self._signatures)}"
            )
        return signature

    def _call(self, signature: Signature, arrays: list[Array], wanted: Any) -> dict[str, Array]:
        known = [spec.name for spec in signature.outputs]
        for name in wanted or ():
            if name not in known:
                raise errors.InvalidInput(
                    f"model '{self.name}' has no output '{name}'; its outputs are "
                    f"{', '.join(known)}"
                )
        return self._guarded(
            arrays, wanted, lambda given, names: self._run_signature(signature, given, names)
        )

    def _run_signature(
        self, signature: Signature, arrays: list[Array], wanted: list[str] | None
    ) -> dict[str, Array]:
        import tensorflow as tf

        feed = {
            spec.name: tf.constant(array)
            for spec, array in zip(signature.inputs, arrays, strict=True)
        }
        if self._device is None:
            results = signature.function(**feed)
        else:
            with tf.device(self._device):
                results = signature.function(**feed)
        chosen = wanted or [spec.name for spec in signature.outputs] or list(results)
        return {name: results[name].numpy() for name in chosen if name in results}

    def _threads(self, tf: Any) -> None:
        if self.threads is None:
            return
        try:
            tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        except RuntimeError:  # TensorFlow already ran in this process: the pool is fixed
            log.warning(
                "model '%s': --threads %d not applied: TensorFlow is already initialised "
                "in this process",
                self.name,
                self.threads,
            )


def _signature(function: Any) -> Signature:
    # By name, as TF Serving lists a signature (a map): loading keeps no order of its own.
    _, named = function.structured_input_signature
    inputs = [_spec(name, named[name]) for name in sorted(named)]
    results = function.structured_outputs
    outputs = [_spec(name, results[name]) for name in sorted(results)]
    return Signature(function, inputs, outputs)


def _spec(name: str, spec: Any) -> TensorSpec:
    datatype = _DATATYPES.get(spec.dtype.name)
    if datatype is None:
        raise errors.ModelLoadError(
            f"signature tensor '{name}' is {spec.dtype.name}, which the Open Inference Protocol "
            "cannot carry; export the signature with a standard numeric, bool or string type"
        )
    if spec.shape.rank is None:
        return AnyRank(name, datatype, (-1,))
    return TensorSpec(name, datatype, tuple(-1 if d is None else d for d in spec.shape.as_list()))


def _device(tf: Any, option: str | None) -> str | None:
    chosen = tensor_model.parse_device(option)
    if chosen is None:
        return None
    kind, index = chosen
    if kind == "cpu":
        return "/CPU:0"
    gpus = tf.config.list_physical_devices("GPU")
    if index >= len(gpus):
        raise errors.ModelLoadError(
            f"--device {option}: TensorFlow {tf.__version__} sees {len(gpus)} GPU(s); pass "
            "--device cpu, or install a GPU build (pip install tensorflow[and-cuda])"
        )
    return f"/GPU:{index}"
