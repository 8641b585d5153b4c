"""The XGBoost runtime: a `Booster` saved with `save_model` as JSON, UBJSON or `.bst`.

`*.ubj` is XGBoost's own suffix. A `*.json` file counts only when it holds an XGBoost model (its
first key is `learner`), so a stray `config.json` is not mistaken for one. `*.bst` is shared with
LightGBM; a `.bst` that is not a LightGBM text model (which starts with the line `tree`) is taken
as XGBoost's, the binary or UBJSON format XGBoost writes for that suffix.

Like KServe's xgbserver, predictions are what `Booster.predict` returns for the booster's
objective: class probabilities (rows x classes) for `multi:softprob`, labels for
`multi:softmax`, a probability for `binary:logistic`, a value for regression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelplane.runtimes import files, lightgbm, rows, tabular


class XGBoostModel(tabular.TabularModel):
    """An XGBoost `Booster` read from its model file."""

    platform = "xgboost"
    model_extensions = (".json", ".ubj", ".bst")
    # XGBoost scores in float32 whatever it is given.
    input_datatype = "FP32"

    @classmethod
    def recognises(cls, path: Path) -> bool:
        suffix = path.suffix.lower()
        if suffix == ".json":
            return b'"learner"' in files.head(path)
        if suffix == ".bst":
            return not lightgbm.is_text_model(path)
        return suffix == ".ubj"

    def _read(self, path: Path) -> Any:
        # Imported here, not at the top, so that choosing a runtime stays free of XGBoost.
        import xgboost

        return xgboost.Booster(model_file=str(path))

    def _feature_count(self) -> int | None:
        count = int(self._model.num_features())
        return count if count > 0 else None

    def _predict(self, array: rows.Array) -> Any:
        import xgboost  # already loaded by _read; this is a lookup, not an import

        # XGBoost scores missing trailing columns as missing values instead of refusing them;
        # the base class checks the feature count first, so a short row never gets this far.
        # Naming the columns as the booster knows them keeps boosters trained on data frames
        # from rejecting an unnamed matrix.
        matrix = xgboost.DMatrix(array, feature_names=self._model.feature_names)
        return self._model.predict(matrix)
