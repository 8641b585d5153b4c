"""The cases of the runtime contract suite: iris models of every runtime, written to disk.

Each case is one way a user hands modelplane a model (a file of some framework, or a custom
class) together with that framework's own predict, which the suite treats as the truth.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import xgboost
from sklearn.linear_model import LogisticRegression

from tests.contract.custom_models import IrisClassifier
from tests.support import models

Array = np.ndarray[Any, Any]
Reference = Callable[[Array], Array]

FILE_CASES = ["sklearn-joblib", "sklearn-pickle", "xgboost-json", "xgboost-ubj", "lightgbm-txt"]
ALL_CASES = [*FILE_CASES, "custom"]


@dataclass(frozen=True)
class RuntimeCase:
    id: str
    model_dir: Path
    platform: str
    reference: Reference
    #: The one model file of a file-based case; None for a custom class.
    model_file: Path | None = None
    model_class: str | None = None
    supports_proba: bool = False


def build(make_dir: Callable[[str], Path]) -> dict[str, RuntimeCase]:
    """Train one iris model per framework and save it the way each case names."""
    features, labels = models.iris()
    cases: dict[str, RuntimeCase] = {}

    def add(
        case_id: str, filename: str, write: Callable[[Path], Any], reference: Reference
    ) -> None:
        path = make_dir(case_id) / filename
        write(path)
        platform = case_id.split("-")[0]
        cases[case_id] = RuntimeCase(
            case_id, path.parent, platform, reference, path, supports_proba=platform == "sklearn"
        )

    estimator = LogisticRegression(max_iter=1000).fit(features, labels)
    add("sklearn-joblib", "model.joblib", lambda p: joblib.dump(estimator, p), estimator.predict)
    # A plain pickle, as pickle.dump writes it: the sklearn runtime must read it too.
    add(
        "sklearn-pickle",
        "model.pkl",
        lambda p: p.write_bytes(pickle.dumps(estimator)),
        estimator.predict,
    )

    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "nthread": 1},
        xgboost.DMatrix(features, label=labels),
        num_boost_round=5,
    )

    def booster_predict(rows: Array) -> Array:
        return np.asarray(booster.predict(xgboost.DMatrix(rows)))

    add("xgboost-json", "model.json", lambda p: booster.save_model(str(p)), booster_predict)
    add("xgboost-ubj", "model.ubj", lambda p: booster.save_model(str(p)), booster_predict)

    gbm = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(features, label=labels),
        num_boost_round=5,
    )
    add(
        "lightgbm-txt",
        "model.txt",
        lambda p: gbm.save_model(str(p)),
        lambda rows: np.asarray(gbm.predict(rows)),
    )

    cases["custom"] = RuntimeCase(
        "custom",
        cases["sklearn-joblib"].model_dir,
        "custom",
        estimator.predict,
        model_class=f"{IrisClassifier.__module__}:{IrisClassifier.__qualname__}",
    )
    return cases
