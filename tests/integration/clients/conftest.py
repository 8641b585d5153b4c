"""Servers for the tritonclient tests: iris, a versioned iris, and two custom V2 models.

Each server is a real `ModelplaneServer` on port 0 in a background thread (see
`tests/support/serving.py`), started once per module and awaited on its own ready event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

import modelplane
from modelplane import InferOutput, InferRequest, InferResponse
from modelplane.core import errors
from tests.integration.clients.triton import Clients
from tests.support import models
from tests.support.serving import RunningServer, serving, test_settings

Array = np.ndarray[Any, Any]


class Calculator(modelplane.Model):
    """Two FP32 inputs `a` and `b` in; their `sum` and `difference` out."""

    platform = "custom"

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> InferResponse:
        assert isinstance(payload, InferRequest)
        a, b = payload.get_input_by_name("a"), payload.get_input_by_name("b")
        if a is None or b is None:
            raise errors.InvalidInput("calculator needs inputs 'a' and 'b'")
        left, right = a.as_numpy(), b.as_numpy()
        outputs = [
            InferOutput("sum", list(left.shape), "FP32", left + right),
            InferOutput("difference", list(left.shape), "FP32", left - right),
        ]
        return InferResponse(payload.id, self.name, outputs)


class Echo(modelplane.Model):
    """Answers every input tensor as an output of the same name, datatype and shape."""

    platform = "custom"

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> InferResponse:
        assert isinstance(payload, InferRequest)
        outputs = [
            InferOutput(tensor.name, list(tensor.shape), tensor.datatype, tensor.as_numpy())
            for tensor in payload.inputs
        ]
        return InferResponse(payload.id, self.name, outputs)


def _train(directory: Path, estimator: Any) -> Path:
    features, labels = models.iris()
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator.fit(features, labels), directory / "model.joblib")
    return directory


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    """tritonclient clients for the module's servers, closed on this thread at module end."""
    opened = Clients()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def iris_estimator(iris_dir: Path) -> Any:
    """The served iris model as scikit-learn loads it: the truth every protocol must match."""
    return joblib.load(iris_dir / "model.joblib")


@pytest.fixture(scope="session")
def versioned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Triton-style model directory: `1/` a logistic regression, `2/` a constant classifier
    that always answers class 1, so each version's answers are told apart."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("versioned-iris")
    _train(root / "1", LogisticRegression(max_iter=1000))
    _train(root / "2", DummyClassifier(strategy="constant", constant=1))
    return root


@pytest.fixture(scope="module")
def versioned_server(
    versioned_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    settings = test_settings(
        model_name="iris-versions",
        storage_uri=str(versioned_dir),
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    with serving(settings) as running:
        yield running


@pytest.fixture(scope="module")
def reload_server(
    iris_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server of its own for the load/unload tests, so that they disturb no other test."""
    settings = test_settings(
        model_name="iris-reload",
        storage_uri=str(iris_dir),
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    with serving(settings) as running:
        yield running


@pytest.fixture(scope="module")
def custom_server() -> Iterator[RunningServer]:
    with serving(test_settings(), models=[Calculator("calculator"), Echo("echo")]) as running:
        yield running


@pytest.fixture(scope="session")
def echo_tensors() -> dict[str, tuple[str, Array]]:
    """One tensor per Open Inference Protocol datatype, each with values at its edges."""
    ints = {
        "INT8": np.int8,
        "INT16": np.int16,
        "INT32": np.int32,
        "INT64": np.int64,
        "UINT8": np.uint8,
        "UINT16": np.uint16,
        "UINT32": np.uint32,
        "UINT64": np.uint64,
    }
    tensors: dict[str, tuple[str, Array]] = {
        "BOOL": ("bool_in", np.array([[True, False, True], [False, False, True]])),
        "FP16": ("fp16_in", np.array([[0.5, -1.25, 65504.0]], dtype=np.float16)),
        "FP32": ("fp32_in", np.array([[1.5, -2.25], [3.0e38, 1.0e-7]], dtype=np.float32)),
        "FP64": ("fp64_in", np.array([0.1, -1.0e300, 2.5], dtype=np.float64)),
        "BYTES": (
            "bytes_in",
            np.array([[b"iris", b""], ["caf\u00e9".encode(), b"a b\nc"]], dtype=np.object_),
        ),
    }
    for datatype, dtype in ints.items():
        info = np.iinfo(dtype)
        tensors[datatype] = (f"{datatype.lower()}_in", np.array([[info.min, 0, info.max]], dtype))
    return tensors
