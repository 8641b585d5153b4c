"""The model contract, checked the same way for every runtime.

Every case (a scikit-learn, XGBoost or LightGBM file, or a custom class) must load, answer V1
and V2 requests for the same rows with the same values as the framework's own predict, refuse
bad input with `InvalidInput`, describe itself in V2 metadata, and fail selection with a
`ModelLoadError` that names what it found.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse, RequestedOutput
from modelplane.core.model import Model, is_ready
from modelplane.runtimes import selector
from tests.contract.runtime_cases import RuntimeCase
from tests.support import models

Array = np.ndarray[Any, Any]

# One row of each iris species, then two more: labels 0, 1, 2, 0, 1.
ROWS = [0, 50, 100, 1, 51]


def create(runtime_case: RuntimeCase, model_dir: Path | None = None) -> Model:
    return selector.create_model(
        "iris",
        runtime_case.model_dir if model_dir is None else model_dir,
        model_class=runtime_case.model_class,
    )


@pytest.fixture
def loaded(runtime_case: RuntimeCase) -> Model:
    model = create(runtime_case)
    model.load()
    return model


@pytest.fixture(scope="module")
def rows() -> Array:
    return models.iris()[0][ROWS]


def v2_request(array: Array, datatype: str = "FP64", request_id: str = "req-1") -> InferRequest:
    tensor = InferInput(
        "input-0", list(array.shape), datatype, array.astype(datatypes.to_numpy(datatype))
    )
    return InferRequest("iris", [tensor], request_id=request_id)


def v1_predictions(model: Model, body: dict[str, Any]) -> Any:
    result = model.predict(body)
    assert isinstance(result, dict)
    assert set(result) == {"predictions"}
    return result["predictions"]


def assert_same(actual: Any, expected: Array) -> None:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    if expected.dtype.kind in "iu":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-6)


async def test_create_returns_an_unloaded_model(runtime_case: RuntimeCase) -> None:
    model = create(runtime_case)

    assert isinstance(model, Model)
    assert model.name == "iris"
    assert model.platform == runtime_case.platform
    assert not await is_ready(model)


async def test_load_makes_the_model_ready_and_stop_undoes_it(loaded: Model) -> None:
    assert await is_ready(loaded)

    loaded.stop()

    assert not await is_ready(loaded)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_v1_predictions_are_the_frameworks(
    runtime_case: RuntimeCase, loaded: Model, rows: Array, key: str
) -> None:
    predictions = v1_predictions(loaded, {key: rows.tolist()})

    assert_same(predictions, runtime_case.reference(rows))


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_v2_predictions_agree_with_v1(
    runtime_case: RuntimeCase, loaded: Model, rows: Array, datatype: str
) -> None:
    v1 = np.asarray(v1_predictions(loaded, {"instances": rows.tolist()}))

    response = loaded.predict(v2_request(rows, datatype))

    assert isinstance(response, InferResponse)
    assert (response.id, response.model_name) == ("req-1", "iris")
    [output] = response.outputs
    assert output.name == "output-0"
    assert output.datatype == datatypes.from_numpy(output.as_numpy().dtype)
    assert_same(output.as_numpy(), v1.astype(output.as_numpy().dtype))
    assert output.shape == list(runtime_case.reference(rows).shape)


def test_v2_accepts_json_list_data(runtime_case: RuntimeCase, loaded: Model, rows: Array) -> None:
    tensor = InferInput("input-0", list(rows.shape), "FP64", rows.reshape(-1).tolist())

    response = loaded.predict(InferRequest("iris", [tensor]))

    assert isinstance(response, InferResponse)
    assert_same(response.outputs[0].as_numpy(), runtime_case.reference(rows))


BAD_V1 = {
    "three features": ({"instances": [[5.1, 3.5, 1.4]]}, r"4 features"),
    "strings": ({"instances": [["a", "b", "c", "d"]]}, r"number"),
    "empty": ({"instances": []}, r"empty"),
    "no instances": ({"rows": [[5.1, 3.5, 1.4, 0.2]]}, r"instances"),
    "ragged rows": ({"instances": [[5.1, 3.5, 1.4, 0.2], [5.1, 3.5]]}, r"length"),
}


@pytest.mark.parametrize(("payload", "message"), BAD_V1.values(), ids=BAD_V1.keys())
def test_bad_v1_input_is_invalid_input(
    loaded: Model, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        loaded.predict(payload)


def test_bad_v2_input_is_invalid_input(loaded: Model) -> None:
    three = InferInput("input-0", [1, 3], "FP64", [5.1, 3.5, 1.4])
    words = InferInput("input-0", [1, 4], "BYTES", [b"a", b"b", b"c", b"d"])
    empty = InferInput("input-0", [0, 4], "FP64", [])
    four = InferInput("input-1", [1, 4], "FP64", [5.1, 3.5, 1.4, 0.2])

    for inputs in ([three], [words], [empty], [four, four], []):
        with pytest.raises(errors.InvalidInput):
            loaded.predict(InferRequest("iris", inputs))


def test_metadata_describes_what_predict_returns(loaded: Model, rows: Array) -> None:
    [tensor_in] = loaded.get_input_types()
    assert tensor_in["name"] == "input-0"
    assert tensor_in["datatype"] in ("FP32", "FP64")
    assert tensor_in["shape"] == [-1, 4]

    response = loaded.predict(v2_request(rows))

    assert isinstance(response, InferResponse)
    tensor_out = loaded.get_output_types()[0]
    assert tensor_out["name"] == response.outputs[0].name
    assert tensor_out["datatype"] == response.outputs[0].datatype
    assert tensor_out["shape"] == [-1, *response.outputs[0].shape[1:]]


@pytest.mark.parametrize("by", ["files", "format"])
def test_an_empty_directory_is_a_load_error_naming_it(
    file_runtime_case: RuntimeCase, tmp_path: Path, by: str
) -> None:
    model_format = file_runtime_case.platform if by == "format" else None

    with pytest.raises(errors.ModelLoadError, match=f"{tmp_path}.*no files"):
        selector.create_model("iris", tmp_path, model_format=model_format)


@pytest.mark.parametrize("by", ["files", "format"])
def test_two_model_files_are_a_load_error_naming_both(
    file_runtime_case: RuntimeCase, tmp_path: Path, by: str
) -> None:
    assert file_runtime_case.model_file is not None
    first = tmp_path / f"a{file_runtime_case.model_file.suffix}"
    second = tmp_path / f"b{file_runtime_case.model_file.suffix}"
    shutil.copy(file_runtime_case.model_file, first)
    shutil.copy(file_runtime_case.model_file, second)
    model_format = file_runtime_case.platform if by == "format" else None

    with pytest.raises(errors.ModelLoadError, match="keep one model file") as caught:
        selector.create_model("iris", tmp_path, model_format=model_format)

    assert first.name in str(caught.value) and second.name in str(caught.value)


def test_load_errors_come_from_load_when_files_change(
    file_runtime_case: RuntimeCase, tmp_path: Path
) -> None:
    assert file_runtime_case.model_file is not None
    shutil.copy(file_runtime_case.model_file, tmp_path / file_runtime_case.model_file.name)
    model = selector.create_model("iris", tmp_path)
    (tmp_path / file_runtime_case.model_file.name).unlink()

    with pytest.raises(errors.ModelLoadError, match="no files"):
        model.load()


def test_predict_proba_gives_probabilities_or_a_clear_refusal(
    file_runtime_case: RuntimeCase, rows: Array
) -> None:
    model = selector.create_model("iris", file_runtime_case.model_dir)
    model.load()
    asks = [
        {"instances": rows.tolist(), "parameters": {"predict_proba": True}},
        InferRequest("iris", v2_request(rows).inputs, parameters={"predict_proba": "true"}),
        InferRequest(
            "iris", v2_request(rows).inputs, request_outputs=[RequestedOutput("predict_proba")]
        ),
    ]

    for ask in asks:
        if not file_runtime_case.supports_proba:
            with pytest.raises(errors.InvalidInput, match="predict_proba"):
                model.predict(ask)
            continue
        result = model.predict(ask)
        proba = result["predictions"] if isinstance(result, dict) else result.outputs[0].as_numpy()
        assert np.asarray(proba).shape == (len(ROWS), 3)
        np.testing.assert_allclose(np.asarray(proba).sum(axis=1), 1.0)


@pytest.fixture
def sklearn_iris(runtime_case_store: dict[str, RuntimeCase]) -> Model:
    model = selector.create_model("sklearn-iris", runtime_case_store["sklearn-joblib"].model_dir)
    model.load()
    return model


def test_sklearn_labels_are_json_integers_as_in_kserve(sklearn_iris: Model) -> None:
    result = sklearn_iris.predict({"instances": [[5.1, 3.5, 1.4, 0.2]]})

    assert result == {"predictions": [0]}
    assert type(result["predictions"][0]) is int


def test_sklearn_answers_each_requested_output(sklearn_iris: Model, rows: Array) -> None:
    request = v2_request(rows)
    request.request_outputs = [RequestedOutput("predict_proba"), RequestedOutput("output-0")]

    response = sklearn_iris.predict(request)

    assert isinstance(response, InferResponse)
    assert [output.name for output in response.outputs] == ["predict_proba", "output-0"]
    proba, labels = (output.as_numpy() for output in response.outputs)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)
    assert [spec["name"] for spec in sklearn_iris.get_output_types()] == [
        "output-0",
        "predict_proba",
    ]


def test_an_unknown_requested_output_names_the_known_ones(sklearn_iris: Model, rows: Array) -> None:
    request = v2_request(rows)
    request.request_outputs = [RequestedOutput("predict")]

    with pytest.raises(errors.InvalidInput, match="output-0 or predict_proba"):
        sklearn_iris.predict(request)
