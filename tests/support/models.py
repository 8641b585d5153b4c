"""Small models trained in fixtures from data that scikit-learn ships (iris)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]


def iris() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from sklearn.datasets import load_iris

    features, labels = load_iris(return_X_y=True)
    return features, labels


def train_sklearn(directory: Path) -> Path:
    import joblib
    from sklearn.linear_model import LogisticRegression

    features, labels = iris()
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(features, labels), directory / "model.joblib")
    return directory
