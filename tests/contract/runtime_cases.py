"""The cases of the runtime contract suite: a model of every runtime, written to disk.

Each case is one way a user hands modelplane a model (a file of some framework, or a custom
class), one good request's inputs by name, and that framework's own outputs for them, which the
suite treats as the truth. Tabular cases are iris classifiers taking one `[rows, 4]` input;
tensor cases (ONNX, PyTorch, TensorFlow) take named inputs and give named outputs.
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
from tests.support import models, tensor_models, tf_models
from tests.support.tensor_models import Named, Reference

Array = np.ndarray[Any, Any]

# One row of each iris species, then two more: labels 0, 1, 2, 0, 1.
ROWS = [0, 50, 100, 1, 51]

TABULAR_FILE_CASES = [
    "sklearn-joblib", "sklearn-pickle", "xgboost-json", "xgboost-ubj", "lightgbm-txt",
]  # fmt: skip
TABULAR_CASES = [*TABULAR_FILE_CASES, "custom"]
TENSOR_CASES = [
    "onnx-iris", "onnx-add-mul", "pytorch-script", "pytorch-export", "tensorflow-dense",
    "tensorflow-pair",
]  # fmt: skip
FILE_CASES = [*TABULAR_FILE_CASES, *TENSOR_CASES]
ALL_CASES = [*TABULAR_CASES, *TENSOR_CASES]
#: Cases whose model takes several inputs (V1 `instances` cannot feed them), and the others.
MULTI_INPUT_CASES = ["onnx-add-mul", "pytorch-script", "pytorch-export", "tensorflow-pair"]
SINGLE_INPUT_CASES = [case for case in ALL_CASES if case not in MULTI_INPUT_CASES]


@dataclass(frozen=True)
class RuntimeCase:
    id: str
    model_dir: Path
    platform: str
    #: One good request's inputs, by name, in the order the model takes them.
    inputs: Named
    #: The framework's own outputs for some inputs, by name, in the order the runtime answers.
    reference: Reference
    #: What V2 metadata must list as the model's inputs.
    input_types: list[dict[str, Any]]
    #: The one model file of a file-based case; None for a custom class.
    model_file: Path | None = None
    model_class: str | None = None
    supports_proba: bool = False
    #: V1 answers in TF Serving's format: a columnar `inputs` body gets `outputs`, not
    #: `predictions` (KServe serves TensorFlow with TF Serving).
    tf_serving: bool = False

    def labels(self, rows: Array) -> Array:
        """A tabular case's predictions for iris `rows`."""
        return self.reference({"input-0": rows})["output-0"]


def build(make_dir: Callable[[str], Path]) -> dict[str, RuntimeCase]:
    """Every case, its model trained or built and saved the way the case names."""
    cases = _tabular(make_dir)
    cases.update(_tensor(make_dir))
    assert [case for case in ALL_CASES if len(cases[case].inputs) > 1] == MULTI_INPUT_CASES
    return cases


def _tabular(make_dir: Callable[[str], Path]) -> dict[str, RuntimeCase]:
    features, labels = models.iris()
    iris = {"input-0": features[ROWS]}
    cases: dict[str, RuntimeCase] = {}

    def add(case_id: str, filename: str, write: Callable[[Path], Any], predict: Any) -> None:
        path = make_dir(case_id) / filename
        write(path)
        platform = case_id.split("-")[0]
        datatype = "FP32" if platform == "xgboost" else "FP64"
        cases[case_id] = RuntimeCase(
            case_id,
            path.parent,
            platform,
            iris,
            lambda named: {"output-0": np.asarray(predict(named["input-0"]))},
            [{"name": "input-0", "datatype": datatype, "shape": [-1, 4]}],
            path,
            supports_proba=platform == "sklearn",
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
    add("lightgbm-txt", "model.txt", lambda p: gbm.save_model(str(p)), gbm.predict)

    sklearn_case = cases["sklearn-joblib"]
    cases["custom"] = RuntimeCase(
        "custom",
        sklearn_case.model_dir,
        "custom",
        iris,
        sklearn_case.reference,
        sklearn_case.input_types,
        model_class=f"{IrisClassifier.__module__}:{IrisClassifier.__qualname__}",
    )
    return cases


def _tensor(make_dir: Callable[[str], Path]) -> dict[str, RuntimeCase]:
    features = models.iris()[0][ROWS].astype(np.float32)
    rng = np.random.default_rng(0)
    pair = {name: rng.normal(size=(4, 3)).astype(np.float32) for name in ("a", "b")}
    scorer = {"features": features, "counts": np.arange(len(ROWS), dtype=np.int64)}
    builds: dict[str, tuple[Callable[[Path], tuple[Path, Reference]], Named]] = {
        "onnx-iris": (tensor_models.onnx_iris, {"X": features}),
        "onnx-add-mul": (tensor_models.onnx_add_mul, pair),
        "pytorch-script": (tensor_models.torchscript, scorer),
        "pytorch-export": (tensor_models.exported, scorer),
        "tensorflow-dense": (_in_dir(tf_models.dense), {"x": features}),
        # TensorFlow lists a signature's inputs by name.
        "tensorflow-pair": (
            _in_dir(tf_models.pair),
            {"features": features, "ids": scorer["counts"]},
        ),
    }
    cases = {}
    for case_id, (write, inputs) in builds.items():
        path, reference = write(make_dir(case_id))
        input_types = [
            {"name": name, "datatype": _datatype(array), "shape": [-1, *array.shape[1:]]}
            for name, array in inputs.items()
        ]
        platform = case_id.split("-")[0]
        model_file = path / "saved_model.pb" if path.is_dir() else path
        cases[case_id] = RuntimeCase(
            case_id,
            model_file.parent,
            platform,
            inputs,
            reference,
            input_types,
            model_file,
            tf_serving=platform == "tensorflow",
        )
    return cases


def _in_dir(
    build: Callable[[Path], tuple[Path, Reference]],
) -> Callable[[Path], tuple[Path, Reference]]:
    """A SavedModel builder writing into a fresh `model` directory, not the case's own."""
    return lambda directory: build(directory / "model")


def _datatype(array: Array) -> str:
    return {"float32": "FP32", "int64": "INT64"}[array.dtype.name]
