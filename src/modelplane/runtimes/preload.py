"""What a warm template imports ahead of the replicas it forks, per model format.

The modules a runtime imports when it loads a model, so that a replica forked from a template
(`server.template`) finds them imported. Only formats whose frameworks are known to fork
cleanly after import are listed: torch, transformers and TensorFlow start thread pools and
runtime state that a fork does not carry over safely, so their replicas start as new processes.
"""

from __future__ import annotations

import importlib

#: Formats a template serves, and the modules it imports for each (the server's own always).
MODULES: dict[str, tuple[str, ...]] = {
    "": (),  # a custom model class, or a format the files decide: the server alone
    "sklearn": (
        "joblib",
        "sklearn.base",
        "sklearn.ensemble",
        "sklearn.linear_model",
        "sklearn.neighbors",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.svm",
        "sklearn.tree",
    ),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnxruntime",),
}


def warmable(model_format: str) -> bool:
    return model_format.lower() in MODULES


def preload(model_format: str) -> list[str]:
    """Import the format's modules; the ones not installed are left out (the replica says so)."""
    loaded = []
    for name in MODULES.get(model_format.lower(), ()):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        loaded.append(name)
    return loaded
