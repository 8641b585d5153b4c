"""TF Serving's REST format and the SavedModel finder, without TensorFlow: bodies to arrays,
arrays to answers, and which `saved_model.pb` a model directory serves."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.runtimes import selector, tf_serving
from modelplane.runtimes.tensorflow import TensorFlowModel
from modelplane.runtimes.tensors import TensorSpec

PAIR = [TensorSpec("features", "FP32", (-1, 2)), TensorSpec("ids", "INT64", (-1,))]
ONE = [TensorSpec("x", "FP32", (-1, 2))]
TEXT = [TensorSpec("text", "BYTES", (-1,))]


def test_rows_of_objects_become_one_array_per_input_in_signature_order() -> None:
    body = {"instances": [{"ids": 1, "features": [1, 2]}, {"ids": 2, "features": [3, 4]}]}

    features, ids = tf_serving.decode(body, PAIR, "m")

    assert features.dtype == np.float32 and features.tolist() == [[1, 2], [3, 4]]
    assert ids.dtype == np.int64 and ids.tolist() == [1, 2]


def test_columns_name_their_inputs_or_are_the_one_input() -> None:
    features, ids = tf_serving.decode({"inputs": {"features": [[1, 2]], "ids": [5]}}, PAIR, "m")
    [x] = tf_serving.decode({"inputs": [[1, 2]]}, ONE, "m")
    [row] = tf_serving.decode({"instances": [{"x": [1, 2]}]}, ONE, "m")

    assert (features.shape, ids.tolist()) == ((1, 2), [5])
    assert x.tolist() == row.tolist() == [[1.0, 2.0]]


def test_strings_and_b64_become_bytes() -> None:
    binary = bytes([0, 255, 7])
    body = {"instances": ["tulip", {"b64": base64.b64encode(binary).decode()}]}

    [text] = tf_serving.decode(body, TEXT, "m")

    assert text.dtype == np.object_ and text.tolist() == [b"tulip", binary]


BAD: dict[str, tuple[dict[str, Any], list[TensorSpec], str]] = {
    "both forms": ({"instances": [[1, 2]], "inputs": [[1, 2]]}, ONE, "not both"),
    "plain rows, two inputs": ({"instances": [[1, 2]]}, PAIR, "takes 2 inputs.*V2"),
    "rows naming different inputs": (
        {"instances": [{"features": [1, 2], "ids": 1}, {"features": [1, 2]}]},
        PAIR,
        "the same inputs",
    ),
    "unknown input": (
        {"inputs": {"features": [[1, 2]], "ids": [1], "z": [1]}},
        PAIR,
        "no input 'z'",
    ),
    "missing input": ({"inputs": {"features": [[1, 2]]}}, PAIR, "missing input 'ids'"),
    "words for numbers": ({"inputs": {"features": [["a", "b"]], "ids": [1]}}, PAIR, "numbers"),
    "wrong shape": ({"inputs": {"features": [[1, 2, 3]], "ids": [1]}}, PAIR, r"shape \[1, 3\]"),
    "bad b64": ({"instances": [{"b64": "***"}]}, TEXT, "not base64"),
    "a number for a string": ({"instances": [3]}, TEXT, "takes strings"),
    "no rows": ({"rows": [[1, 2]]}, ONE, "instances"),
}


@pytest.mark.parametrize(("body", "specs", "message"), BAD.values(), ids=BAD.keys())
def test_bad_bodies_say_what_to_fix(
    body: dict[str, Any], specs: list[TensorSpec], message: str
) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        tf_serving.decode(body, specs, "m")


def test_answers_take_the_requests_form() -> None:
    one = {"y": np.array([[1.5], [2.5]], dtype=np.float32)}
    two = {"label": np.array([1, 0]), "name": np.array([b"iris", b"rose"], dtype=np.object_)}

    assert tf_serving.encode(one, columnar=False, model="m") == {"predictions": [[1.5], [2.5]]}
    assert tf_serving.encode(one, columnar=True, model="m") == {"outputs": [[1.5], [2.5]]}
    assert tf_serving.encode(two, columnar=False, model="m") == {
        "predictions": [{"label": 1, "name": "iris"}, {"label": 0, "name": "rose"}]
    }
    assert tf_serving.encode(two, columnar=True, model="m") == {
        "outputs": {"label": [1, 0], "name": ["iris", "rose"]}
    }


def test_bytes_outputs_and_binary_strings_answer_in_b64() -> None:
    results = {
        "image_bytes": np.array([b"ok"], dtype=np.object_),
        "text": np.array([b"\xff"], dtype=np.object_),
    }

    answer = tf_serving.encode(results, columnar=True, model="m")

    assert answer == {"outputs": {"image_bytes": [{"b64": "b2s="}], "text": [{"b64": "/w=="}]}}


def test_rows_of_outputs_with_different_batch_sizes_point_to_columns() -> None:
    results = {"a": np.zeros(2), "b": np.zeros(3)}

    with pytest.raises(errors.InvalidInput, match="columnar"):
        tf_serving.encode(results, columnar=False, model="m")
    assert set(tf_serving.encode(results, columnar=True, model="m")["outputs"]) == {"a", "b"}


def saved_model(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "variables").mkdir()
    (directory / "saved_model.pb").write_bytes(b"")
    return directory / "saved_model.pb"


def test_a_saved_model_is_detected_by_its_file(tmp_path: Path) -> None:
    path = saved_model(tmp_path / "m")
    (tmp_path / "m" / "fingerprint.pb").write_bytes(b"")  # TF 2 writes it beside the model

    model = selector.create_model("m", tmp_path / "m")

    assert isinstance(model, TensorFlowModel)
    assert TensorFlowModel.find_model_file(tmp_path / "m") == path


def test_the_highest_numbered_version_is_served(tmp_path: Path) -> None:
    for version in ("1", "0002", "10"):
        saved_model(tmp_path / version)
    (tmp_path / "99").mkdir()  # no SavedModel in it: not a version

    found = TensorFlowModel.find_model_file(tmp_path)

    assert found == tmp_path / "10" / "saved_model.pb"


def test_a_directory_without_a_saved_model_says_what_one_is(tmp_path: Path) -> None:
    (tmp_path / "model.h5").write_bytes(b"")

    with pytest.raises(errors.ModelLoadError, match=r"saved_model.pb and variables/.*model.h5"):
        selector.create_model("m", tmp_path, model_format="tensorflow")
