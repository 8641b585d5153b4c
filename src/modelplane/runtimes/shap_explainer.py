"""The built-in explainer of `spec.explainer.shap`: SHAP values for a tabular predictor.

SHAP (the `shap` package, maintained and offline) explains any model from its predictions
alone, so the explainer needs nothing of the predictor but its `:predict`: KernelExplainer
(KernelSHAP, a weighted linear fit over feature coalitions) or PermutationExplainer. Each
explanation sends the predictor a few large batches through the gateway, as KServe's explainers
call theirs. Features left out of a coalition take values from the background data: the rows of
`background.npy` or `background.csv` in the storage URI, else one row of zeros (a baseline
that makes values read as "against an all-zero input"; give background data for a better one).

Settings come as KServe's explainer `config` (strings): `nsamples` (Kernel: coalitions per
instance, default "auto"), `max_evals` (Permutation), `predict_proba` ("true": explain the
predictor's class probabilities, which sklearn's runtime answers when asked).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.core import errors, model

CONFIG_ENV = "MODELPLANE_EXPLAINER_CONFIG"  # inference_service.EXPLAINER_CONFIG_ENV
TYPES = ("KernelExplainer", "PermutationExplainer")
PredictorCall = Callable[
    [np.ndarray[Any, Any], dict[str, Any] | None], Coroutine[Any, Any, np.ndarray[Any, Any]]
]


class ShapExplainer(model.Model):
    """`:explain` answers SHAP values of the predictor's output for each instance."""

    def __init__(self, name: str, model_dir: str | None = None, **_: Any) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir) if model_dir else None
        self.config: dict[str, str] = json.loads(os.environ.get(CONFIG_ENV) or "{}")
        self.kind = self.config.get("type", "KernelExplainer")
        self.background: np.ndarray[Any, Any] | None = None
        self._call: PredictorCall | None = None

    def bind_predictor(self, call: PredictorCall) -> None:
        self._call = call

    def load(self) -> bool:
        if self.kind not in TYPES:
            raise errors.ModelLoadError(f"shap explainer type {self.kind!r} is not one of {TYPES}")
        import shap  # noqa: F401  (fail at load, not at the first request, if it is missing)

        if self.model_dir is not None:
            self.background = _background(self.model_dir)
        self.ready = True
        return True

    async def explain(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        if self._call is None:
            raise errors.NotSupported(
                f"explainer '{self.name}' has no predictor: serve it with --predictor_host"
            )
        rows = _rows(payload)
        loop = asyncio.get_running_loop()
        call = self._call
        parameters = {"predict_proba": True} if self.config.get("predict_proba") == "true" else None

        def predict(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            # SHAP calls this from its worker thread; the predictor is called on the loop.
            future = asyncio.run_coroutine_threadsafe(call(np.asarray(batch), parameters), loop)
            return np.asarray(future.result(), dtype=np.float64)

        return await asyncio.to_thread(self._explain, rows, predict)

    def _explain(
        self, rows: np.ndarray[Any, Any], predict: Callable[[Any], np.ndarray[Any, Any]]
    ) -> dict[str, Any]:
        import shap

        background = self.background
        if background is None:
            background = np.zeros((1, rows.shape[1]))
        if background.shape[1] != rows.shape[1]:
            raise errors.InvalidInput(
                f"instances have {rows.shape[1]} features but the explainer's background data "
                f"has {background.shape[1]}"
            )
        if self.kind == "PermutationExplainer":
            masker = shap.maskers.Independent(background)
            explainer = shap.PermutationExplainer(predict, masker)
            evals = int(self.config.get("max_evals", 2 * rows.shape[1] + 1))
            explanation = explainer(rows, max_evals=max(evals, 2 * rows.shape[1] + 1), silent=True)
            values, base = explanation.values, explanation.base_values
        else:
            explainer = shap.KernelExplainer(predict, background, silent=True)
            nsamples = self.config.get("nsamples", "auto")
            values = explainer.shap_values(
                rows, nsamples=int(nsamples) if nsamples.isdigit() else "auto", silent=True
            )
            base = explainer.expected_value
        # One base value per instance whichever explainer ran (Kernel's is the same for all):
        # each instance's values sum to its prediction less its base value.
        bases = np.asarray(base)
        if self.kind == "KernelExplainer":
            bases = np.broadcast_to(bases, (len(rows), *bases.shape))
        return {
            "explainer": f"shap.{self.kind}",
            "predictions": predict(rows).tolist(),
            "base_values": bases.tolist(),
            "shap_values": np.asarray(values).tolist(),
        }


def _rows(payload: Any) -> np.ndarray[Any, Any]:
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise errors.InvalidInput('the explain request needs "instances": a list of rows')
    try:
        rows = np.asarray(instances, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise errors.InvalidInput(f"instances must be rows of numbers: {exc}") from exc
    if rows.ndim != 2:
        raise errors.InvalidInput(f"instances must be a list of rows, got shape {rows.shape}")
    return rows


def _background(directory: Path) -> np.ndarray[Any, Any] | None:
    for name, read in (
        ("background.npy", lambda p: np.load(p, allow_pickle=False)),
        ("background.csv", lambda p: np.loadtxt(p, delimiter=",", ndmin=2)),
    ):
        path = directory / name
        if path.is_file():
            data = np.asarray(read(path), dtype=np.float64)
            if data.ndim != 2:
                raise errors.ModelLoadError(f"{path} must hold a 2-D table of rows")
            return data
    return None
