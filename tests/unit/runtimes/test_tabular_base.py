"""The tabular base class on a fake framework: errors, feature checks, metadata, lifecycle.

The fake "framework" is a small estimator class written to a file as text, so these tests
cover what every tabular runtime inherits without importing any real framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse
from modelplane.runtimes import rows, tabular


class Estimator:
    """Labels each row by the sign of its first feature; raises what its file asks for."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    def predict(self, array: rows.Array) -> Any:
        if self.behaviour == "value-error":
            raise ValueError("Input contains NaN\nand a second line nobody needs")
        if self.behaviour == "crash":
            raise RuntimeError("out of memory")
        return np.where(array[:, 0] > 0, "positive", "negative")


class FakeRuntime(tabular.TabularModel):
    platform = "fake"
    model_extensions = (".fake",)

    def _read(self, path: Path) -> Any:
        behaviour = path.read_text().strip()
        if behaviour == "corrupt":
            raise OSError("unexpected end of file")
        return Estimator(behaviour)

    def _feature_count(self) -> int | None:
        return 2

    def _predict(self, array: rows.Array) -> Any:
        return self._model.predict(array)


def loaded(tmp_path: Path, behaviour: str = "ok") -> FakeRuntime:
    (tmp_path / "model.fake").write_text(behaviour)
    model = FakeRuntime("fake-model", tmp_path)
    model.load()
    return model


def test_load_finds_the_file_and_becomes_ready(tmp_path: Path) -> None:
    model = loaded(tmp_path)

    assert model.ready is True
    assert model.model_file == tmp_path / "model.fake"


def test_a_file_the_framework_cannot_read_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadError, match=r"model.fake as a fake model: unexpected end"):
        loaded(tmp_path, "corrupt")


def test_predict_before_load_says_not_ready(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelNotReady):
        FakeRuntime("fake-model", tmp_path).predict({"instances": [[1, 2]]})


def test_stop_releases_the_model(tmp_path: Path) -> None:
    model = loaded(tmp_path)

    model.stop()

    assert model.ready is False
    with pytest.raises(errors.ModelNotReady):
        model.predict({"instances": [[1, 2]]})


def test_string_labels_answer_v1_as_strings_and_v2_as_bytes(tmp_path: Path) -> None:
    model = loaded(tmp_path)
    request = InferRequest("fake-model", [InferInput("x", [2, 2], "FP64", [1, 0, -1, 0])], "r")

    assert model.predict({"instances": [[1, 0], [-1, 0]]}) == {
        "predictions": ["positive", "negative"]
    }
    response = model.predict(request)
    assert isinstance(response, InferResponse)
    assert response.outputs[0].datatype == "BYTES"
    assert response.outputs[0].as_numpy().tolist() == [b"positive", b"negative"]
    assert model.get_output_types() == [{"name": "output-0", "datatype": "BYTES", "shape": [-1]}]


def test_the_feature_count_is_checked_before_the_framework_runs(tmp_path: Path) -> None:
    model = loaded(tmp_path, "crash")

    with pytest.raises(errors.InvalidInput, match="expects 2 features per row, got 3"):
        model.predict({"instances": [[1, 2, 3]]})


def test_framework_value_errors_are_invalid_input_with_one_line(tmp_path: Path) -> None:
    model = loaded(tmp_path, "value-error")

    with pytest.raises(errors.InvalidInput) as caught:
        model.predict({"instances": [[1, 2]]})

    assert str(caught.value) == "model 'fake-model' cannot score this input: Input contains NaN"


def test_other_framework_errors_are_model_faults(tmp_path: Path) -> None:
    model = loaded(tmp_path, "crash")

    with pytest.raises(errors.InferenceError, match="RuntimeError: out of memory"):
        model.predict({"instances": [[1, 2]]})
    assert model.get_output_types() == []


def test_predict_proba_is_refused_where_the_runtime_lacks_it(tmp_path: Path) -> None:
    model = loaded(tmp_path)

    with pytest.raises(errors.InvalidInput, match="has no predict_proba"):
        model.predict({"instances": [[1, 2]], "parameters": {"predict_proba": True}})
    assert model.get_input_types() == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}]
