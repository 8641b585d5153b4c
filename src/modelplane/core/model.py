"""The `Model` contract: the hooks a model implements, as in KServe's `kserve.Model`.

A model is built with a name, loaded once with `load()`, then serves requests through
`preprocess -> predict -> postprocess` (or `explain`). Each hook may be a plain method or a
coroutine; the server runs plain ones off the event loop. `payload` is the decoded JSON body
(a dict) for V1 requests and an `InferRequest` for V2 REST and gRPC, exactly as in KServe, so a
KServe custom model ports by changing its import.

`ready` is an attribute the model sets (`self.ready = True` at the end of `load`), or, for models
that need a live check, a method (sync or async) returning a bool.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from modelplane.core import errors
from modelplane.core.inference import InferRequest, InferResponse

Headers = Mapping[str, str]
Payload = dict[str, Any] | InferRequest
Result = dict[str, Any] | InferResponse | Any


class Model:
    """Base class of every model: built-in runtimes and user models alike."""

    ready: bool = False
    #: Shown as `platform` in V2 model metadata.
    platform: str = ""

    def __init__(self, name: str, **_: Any) -> None:
        self.name = name
        self.version: str | None = None

    def load(self) -> bool:
        """Fetch and deserialise the model; set `self.ready = True` when it can serve."""
        self.ready = True
        return self.ready

    def preprocess(self, payload: Payload, headers: Headers | None = None) -> Any:
        """Turn the request into what `predict` takes; by default, unchanged."""
        return payload

    def predict(self, payload: Any, headers: Headers | None = None) -> Result:
        """Run the model. Return a dict (V1), an `InferResponse` (V2) or an array-like."""
        raise errors.NotSupported(f"model '{self.name}' does not implement predict")

    def postprocess(self, result: Result, headers: Headers | None = None) -> Result:
        """Turn `predict`'s result into the response; by default, unchanged."""
        return result

    def explain(self, payload: Payload, headers: Headers | None = None) -> Result:
        """Explain a prediction. Models without an explainer answer 501 Not Implemented."""
        raise errors.NotSupported(f"model '{self.name}' does not implement explain")

    def stop(self) -> None:
        """Release what `load` took; called when the model is unloaded or the server stops."""
        self.ready = False

    def get_input_types(self) -> list[dict[str, Any]]:
        """V2 metadata of the inputs: `[{"name", "datatype", "shape"}]`; empty when unknown."""
        return []

    def get_output_types(self) -> list[dict[str, Any]]:
        """V2 metadata of the outputs: `[{"name", "datatype", "shape"}]`; empty when unknown."""
        return []


async def is_ready(model: Model) -> bool:
    """Whether `model` can serve, whether `ready` is an attribute, a method or a coroutine."""
    ready: Any = model.ready
    if callable(ready):
        ready = ready()
        if inspect.isawaitable(ready):
            ready = await ready
    return bool(ready)


def overrides(model: Model, hook: str) -> bool:
    """Whether the model's class replaces the base implementation of `hook`."""
    return getattr(type(model), hook, None) is not getattr(Model, hook)


def is_async(model: Model, hook: str) -> bool:
    """Whether `hook` on `model` is a coroutine function (awaited in the event loop)."""
    return inspect.iscoroutinefunction(getattr(model, hook))
