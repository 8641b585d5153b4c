"""The LightGBM runtime: a `Booster` saved with `save_model` (LightGBM's text format).

LightGBM writes the same text format whatever the file is called; `*.txt` is its usual name and
`*.bst` is what KServe's lgbserver reads. A LightGBM model file starts with the line `tree`, so
this runtime recognises its files by that line, which also tells a LightGBM `.bst` from an
XGBoost one and keeps a `README.txt` from passing for a model.

Like KServe's lgbserver, predictions are what `Booster.predict` returns: one probability per
class (rows x classes) for multiclass models, one value per row otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelplane.runtimes import files, rows, tabular


def is_text_model(path: Path) -> bool:
    """Whether `path` starts like a LightGBM model file (its first line is `tree`)."""
    return files.head(path).splitlines()[:1] == [b"tree"]


class LightGBMModel(tabular.TabularModel):
    """A LightGBM `Booster` read from its text model file."""

    platform = "lightgbm"
    model_extensions = (".txt", ".bst")
    input_datatype = "FP64"

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return super().recognises(path) and is_text_model(path)

    def _read(self, path: Path) -> Any:
        # Imported here, not at the top, so that choosing a runtime stays free of LightGBM.
        import lightgbm

        return lightgbm.Booster(model_file=str(path))

    def _data_errors(self) -> tuple[type[Exception], ...]:
        import lightgbm  # already loaded by _read; this is a lookup, not an import

        # LightGBMError is not a ValueError, yet at predict time it means the data is unusable.
        return (*super()._data_errors(), lightgbm.basic.LightGBMError)

    def _feature_count(self) -> int | None:
        return int(self._model.num_feature())

    def _predict(self, array: rows.Array) -> Any:
        return self._model.predict(array)
