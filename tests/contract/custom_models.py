"""A custom model as a user writes one for `--model-class`, for the runtime contract suite.

It decodes requests itself, without modelplane's tabular helpers, so the suite checks that the
custom runtime serves a user's class as written rather than modelplane's own code twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from modelplane.core import errors
from modelplane.core.inference import InferOutput, InferRequest, InferResponse
from modelplane.core.model import Headers, Model

N_FEATURES = 4


class IrisClassifier(Model):
    """Serves `model.joblib` from its model directory, KServe custom-model style."""

    platform = "custom"

    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._estimator: Any = None

    def load(self) -> bool:
        self._estimator = joblib.load(Path(self.model_dir) / "model.joblib")
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Headers | None = None) -> Any:
        if isinstance(payload, InferRequest):
            if len(payload.inputs) != 1:
                raise errors.InvalidInput("send exactly one input tensor")
            if payload.inputs[0].datatype == "BYTES":
                raise errors.InvalidInput("features must be numbers, not BYTES")
            rows = _checked(payload.inputs[0].as_numpy())
            labels = self._estimator.predict(rows)
            output = InferOutput("output-0", list(labels.shape), "INT64", labels)
            return InferResponse(payload.id, self.name, [output])
        key = "inputs" if "inputs" in payload else "instances"
        if key not in payload:
            raise errors.InvalidInput('a V1 request needs "instances"')
        instances = payload[key]
        if not instances:
            raise errors.InvalidInput('"instances" is empty')
        if len({len(row) for row in instances}) != 1:
            raise errors.InvalidInput("rows differ in length")
        try:
            rows = np.asarray(instances, dtype=np.float64)
        except ValueError as exc:
            raise errors.InvalidInput(f"every feature must be a number: {exc}") from None
        return {"predictions": self._estimator.predict(_checked(rows)).tolist()}

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, N_FEATURES]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]


def _checked(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise errors.InvalidInput(f"send a [rows, {N_FEATURES}] tensor with at least one row")
    if rows.shape[1] != N_FEATURES:
        raise errors.InvalidInput(f"expects {N_FEATURES} features per row, got {rows.shape[1]}")
    return rows
