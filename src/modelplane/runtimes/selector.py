"""Choosing the runtime for a model: by model format, by model class, or by the files present.

This is the one function the server calls, `create_model`, and the one place that knows every
runtime. It returns an unloaded model; the caller runs `load()`. Selection problems (an unknown
format, no model file, several candidates) are raised here as `ModelLoadError`, before any
framework is imported, with the directory, the files seen and the fix in the message.

Without a format the files decide: `*.joblib`/`*.pkl`/`*.pickle` are scikit-learn, `*.ubj` and
XGBoost `*.json` are XGBoost, `*.txt` starting with the line `tree` is LightGBM, and `*.bst`
(used by both boosting libraries) is LightGBM when it starts with `tree` and XGBoost otherwise.
`*.onnx` is ONNX; `*.pt` (TorchScript) and `*.pt2` (`torch.export`) are PyTorch.
A transformers `config.json` (it names `architectures` or a `model_type`) is Hugging Face.
`saved_model.pb` (or `.pbtxt`) is a TensorFlow SavedModel; numbered version directories holding
one, as TF Serving reads them, are found once the format says tensorflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from modelplane.core import errors, model
from modelplane.runtimes import (
    custom,
    files,
    huggingface,
    lightgbm,
    onnx,
    pytorch,
    sklearn,
    tensorflow,
    xgboost,
)


class Runtime(Protocol):
    """What a runtime class offers the selector (see `tabular.TabularModel` for one)."""

    @property
    def platform(self) -> str: ...

    @property
    def model_extensions(self) -> tuple[str, ...]: ...

    def __call__(self, name: str, model_dir: Path | None, **options: Any) -> model.Model: ...

    def recognises(self, path: Path) -> bool: ...

    def find_model_file(self, model_dir: Path | None) -> Path: ...


# One entry per runtime; a new runtime adds its class here.
RUNTIMES: dict[str, Runtime] = {
    runtime.platform: runtime
    for runtime in (
        sklearn.SKLearnModel,
        xgboost.XGBoostModel,
        lightgbm.LightGBMModel,
        onnx.ONNXModel,
        pytorch.PyTorchModel,
        huggingface.HuggingFaceModel,
        tensorflow.TensorFlowModel,
    )
}
CUSTOM = "custom"
#: Every value `model_format` accepts (case-insensitive), besides the aliases.
FORMATS: tuple[str, ...] = (*RUNTIMES, CUSTOM)
#: Other names users give a format (the framework's, or the file's kind), and the format each means.
ALIASES: dict[str, str] = {
    "onnxruntime": "onnx",
    "torch": "pytorch",
    "torchscript": "pytorch",
    "transformers": "huggingface",
}


def create_model(
    name: str,
    model_dir: Path | None,
    *,
    model_format: str | None = None,
    model_class: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> model.Model:
    """An unloaded model named `name`, served by the runtime the arguments select.

    `options` are runtime settings from the command line (`device`, `task`, `threads`); each
    runtime takes the ones it knows as keyword arguments and ignores the rest.
    """
    model_format = _normalise(model_format)
    if model_class is not None:
        if model_format not in (None, CUSTOM):
            raise errors.ModelLoadError(
                f"--model-class {model_class} makes a custom model, but --model-format is "
                f"'{model_format}'; pass one of them"
            )
        return custom.create(name, model_dir, model_class, options)
    if model_format == CUSTOM:
        raise errors.ModelLoadError(
            "model format 'custom' needs a model class: pass --model-class package.module:Class"
        )
    runtime = RUNTIMES[model_format] if model_format is not None else detect(model_dir)
    # Fail on a missing or doubled model file now, not later inside load().
    runtime.find_model_file(model_dir)
    return runtime(name, model_dir, **(options or {}))


def detect(model_dir: Path | None) -> Runtime:
    """The runtime whose model files are in `model_dir`; `ModelLoadError` unless exactly one."""
    if model_dir is None:
        raise errors.ModelLoadError(
            "no model directory and no model class: pass --storage-uri (a model directory), "
            "or --model-class for a custom model"
        )
    found = files.listing(model_dir, "model")
    claims = {
        fmt: [path for path in found if runtime.recognises(path)]
        for fmt, runtime in RUNTIMES.items()
    }
    claimed = {fmt: paths for fmt, paths in claims.items() if paths}
    if not claimed:
        expected = "; ".join(
            f"{files.suffixes(runtime.model_extensions)} ({fmt})"
            for fmt, runtime in RUNTIMES.items()
        )
        raise errors.ModelLoadError(
            f"no model file in {model_dir} (found {files.names(found)}); expected {expected}. "
            "Put one model file there, or pass --model-format or --model-class"
        )
    if len(claimed) > 1:
        seen = ", ".join(f"{path.name} ({fmt})" for fmt, paths in claimed.items() for path in paths)
        raise errors.ModelLoadError(
            f"model files for several runtimes in {model_dir}: {seen}; "
            "keep one model file, or pass --model-format to choose"
        )
    (fmt,) = claimed
    return RUNTIMES[fmt]


def _normalise(model_format: str | None) -> str | None:
    if model_format is None or not model_format.strip():
        return None
    value = model_format.strip().lower()
    value = ALIASES.get(value, value)
    if value not in FORMATS:
        aliases = ", ".join(f"{alias} ({fmt})" for alias, fmt in ALIASES.items())
        raise errors.ModelLoadError(
            f"unknown model format '{model_format}'; known formats: {', '.join(FORMATS)} "
            f"(also: {aliases})"
        )
    return value
