"""What tabular runtimes promise beyond the common contract, checked for each of them.

The iris classifiers (scikit-learn, XGBoost, LightGBM, custom) take rows of four features as
V1 lists or one V2 `[rows, 4]` tensor of any numeric datatype, refuse malformed rows with a
message that says what is wrong, and (scikit-learn only) give probabilities when asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse, RequestedOutput
from modelplane.core.model import Model
from modelplane.runtimes import selector
from tests.contract.runtime_cases import ROWS, RuntimeCase
from tests.support import models

Array = np.ndarray[Any, Any]


@pytest.fixture
def loaded(tabular_case: RuntimeCase) -> Model:
    model = selector.create_model(
        "iris", tabular_case.model_dir, model_class=tabular_case.model_class
    )
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


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_v2_predictions_agree_with_v1(
    tabular_case: RuntimeCase, loaded: Model, rows: Array, datatype: str
) -> None:
    v1 = np.asarray(v1_predictions(loaded, {"instances": rows.tolist()}))

    response = loaded.predict(v2_request(rows, datatype))

    assert isinstance(response, InferResponse)
    [output] = response.outputs
    assert output.name == "output-0"
    assert output.datatype == datatypes.from_numpy(output.as_numpy().dtype)
    np.testing.assert_allclose(output.as_numpy(), v1.astype(output.as_numpy().dtype), rtol=1e-6)
    assert output.shape == list(tabular_case.labels(rows).shape)


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


def test_bad_v2_rows_are_invalid_input(loaded: Model) -> None:
    empty = InferInput("input-0", [0, 4], "FP64", [])
    flat = InferInput("input-0", [4], "FP64", [5.1, 3.5, 1.4, 0.2])

    for tensor in (empty, flat):
        with pytest.raises(errors.InvalidInput):
            loaded.predict(InferRequest("iris", [tensor]))


def test_predict_proba_gives_probabilities_or_a_clear_refusal(
    tabular_file_case: RuntimeCase, rows: Array
) -> None:
    model = selector.create_model("iris", tabular_file_case.model_dir)
    model.load()
    asks = [
        {"instances": rows.tolist(), "parameters": {"predict_proba": True}},
        InferRequest("iris", v2_request(rows).inputs, parameters={"predict_proba": "true"}),
        InferRequest(
            "iris", v2_request(rows).inputs, request_outputs=[RequestedOutput("predict_proba")]
        ),
    ]

    for ask in asks:
        if not tabular_file_case.supports_proba:
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
