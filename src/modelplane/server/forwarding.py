"""A transformer's or explainer's predictor, wired into its model: KServe's default `predict`.

In KServe a `Model` that does not write its own `predict` forwards the preprocessed payload to
`predictor_host` and hands the answer to `postprocess`; that is what makes a class with only
`preprocess` and `postprocess` a transformer. When `modelplane serve` runs with
`--predictor_host`, `attach` gives every such model that forwarding `predict` (a KServe
`kserve.Model` subclass counts as not writing its own: kserve's `predict` reads a server
context modelplane does not run). A model that wants the predictor for something else (the
built-in explainer's SHAP sampling) says so with a `bind_predictor(call)` method and is handed a
coroutine `call(rows, parameters) -> predictions` over V1 or V2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelplane.client import predictor
from modelplane.core import model as model_
from modelplane.core.inference import InferInput, InferRequest


def writes_own_predict(model: model_.Model) -> bool:
    """Whether the model's class has a `predict` of its own (not modelplane's or kserve's)."""
    own = getattr(type(model), "predict", None)
    if own is None or own is model_.Model.predict:
        return False
    return not str(getattr(own, "__module__", "")).startswith("kserve.")


def attach(model: model_.Model, client: predictor.PredictorClient) -> None:
    if callable(getattr(model, "bind_predictor", None)):
        model.bind_predictor(_rows_call(model.name, client))  # type: ignore[attr-defined]
    if writes_own_predict(model):
        return

    async def predict(payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        return await client.forward(model.name, payload, headers)

    # An instance attribute: the data plane calls `model.predict` and sees a coroutine.
    model.predict = predict  # type: ignore[method-assign]


def _rows_call(name: str, client: predictor.PredictorClient) -> Any:
    async def call(
        rows: np.ndarray[Any, Any], parameters: dict[str, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        if client.protocol == "v1":
            body: dict[str, Any] = {"instances": rows.tolist()}
            if parameters:
                body["parameters"] = parameters
            answer = await client.predict(name, body, None)
            return np.asarray(answer.get("predictions"))
        tensor = InferInput("input-0", list(rows.shape), "FP64", rows.astype(np.float64))
        request = InferRequest(name, [tensor], parameters=dict(parameters or {}))
        response = await client.infer(request, None)
        return response.outputs[0].as_numpy()

    return call
