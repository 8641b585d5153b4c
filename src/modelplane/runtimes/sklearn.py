"""The scikit-learn runtime: an estimator or pipeline saved with joblib or pickle.

Reads `*.joblib`, `*.pkl` and `*.pickle`, all through `joblib.load`, which also reads plain
pickles: a `.pkl` is as often written by `joblib.dump` as by `pickle.dump`, and only joblib reads
both. Loading a pickle runs code from the file, so serve only model files you trust.

This is the only tabular runtime with `predict_proba`, asked for per request (see
`docs/runtimes.md`) rather than per server as KServe's `PREDICT_PROBA` setting does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelplane.core import errors
from modelplane.runtimes import rows, tabular


class SKLearnModel(tabular.TabularModel):
    """A scikit-learn estimator (or anything with `predict`) loaded with joblib."""

    platform = "sklearn"
    model_extensions = (".joblib", ".pkl", ".pickle")
    input_datatype = "FP64"

    def _read(self, path: Path) -> Any:
        # Imported here, not at the top, so that choosing a runtime stays free of scikit-learn.
        import joblib

        estimator = joblib.load(path)
        if not callable(getattr(estimator, "predict", None)):
            raise errors.ModelLoadError(
                f"{path} holds a {type(estimator).__name__}, which has no predict method; "
                "save the fitted estimator or pipeline itself"
            )
        return estimator

    def _feature_count(self) -> int | None:
        count = getattr(self._model, "n_features_in_", None)
        return int(count) if isinstance(count, int | np.integer) else None

    def _predict(self, array: rows.Array) -> Any:
        return self._model.predict(array)

    def _can_predict_proba(self) -> bool:
        # scikit-learn hides predict_proba where it does not apply (SVC without probability).
        return hasattr(self._model, "predict_proba")

    def _predict_proba(self, array: rows.Array) -> Any:
        if not self._can_predict_proba():
            raise errors.InvalidInput(
                f"model '{self.name}' ({type(self._model).__name__}) has no predict_proba; "
                "drop the predict_proba parameter"
            )
        return self._model.predict_proba(array)
