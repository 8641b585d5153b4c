"""modelplane: KServe, rebuilt in Python, that runs anywhere.

The names a model author needs live here, so a KServe custom model ports by changing
`from kserve import ...` to `from modelplane import ...`. They load lazily: `import modelplane`
stays light enough for a command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Model": "modelplane.core.model",
    "InferRequest": "modelplane.core.inference",
    "InferResponse": "modelplane.core.inference",
    "InferInput": "modelplane.core.inference",
    "InferOutput": "modelplane.core.inference",
    "RequestedOutput": "modelplane.core.inference",
    "ModelServer": "modelplane.server.model_server",
}

if TYPE_CHECKING:
    from modelplane.core.inference import (
        InferInput,
        InferOutput,
        InferRequest,
        InferResponse,
        RequestedOutput,
    )
    from modelplane.core.model import Model
    from modelplane.server.model_server import ModelServer

__all__ = [
    "InferInput",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "Model",
    "ModelServer",
    "RequestedOutput",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelplane' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
