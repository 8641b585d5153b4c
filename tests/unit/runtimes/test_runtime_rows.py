"""Decoding tabular payloads and encoding results: the edge cases every runtime shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest
from modelplane.runtimes import rows


def test_v1_rows_become_a_float_array() -> None:
    array = rows.decode({"instances": [[1, 2], [3, 4.5]]}, "m")

    assert array.dtype == np.float64
    assert array.tolist() == [[1.0, 2.0], [3.0, 4.5]]


def test_inputs_is_read_before_instances_as_kserve_does() -> None:
    assert rows.decode({"inputs": [[1]], "instances": [[2]]}, "m").tolist() == [[1.0]]


def test_null_is_a_missing_value() -> None:
    array = rows.decode({"instances": [[1, None]]}, "m")

    assert array[0, 0] == 1.0 and math.isnan(array[0, 1])


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([1.0, 2.0], "list of rows"),
        ([{"sepal_length": 5.1}], "list of rows"),
        ([[[1.0]]], "list of rows"),
        ([[1, "2"]], "'2' is not a number"),
        ([[1, None, "x"]], "'x' is not a number"),
        ([[1, 2], 3], r'"instances"\[1\] is a int'),
        ("1,2", "is a str"),
        (None, "is a NoneType"),
    ],
)
def test_malformed_v1_rows_say_what_is_wrong(instances: object, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        rows.decode({"instances": instances}, "m")


def test_a_non_dict_non_request_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="not a list"):
        rows.decode([[1.0]], "m")


def test_v2_integers_become_floats_and_floats_stay() -> None:
    ints = InferRequest("m", [InferInput("x", [1, 2], "INT32", [1, 2])])
    fp32 = InferRequest("m", [InferInput("x", [1, 2], "FP32", [1.5, 2.5])])

    assert rows.decode(ints, "m").dtype == np.float64
    assert rows.decode(fp32, "m").dtype == np.float32


def test_a_v2_vector_is_not_a_table() -> None:
    request = InferRequest("m", [InferInput("x", [4], "FP64", [1.0, 2.0, 3.0, 4.0])])

    with pytest.raises(errors.InvalidInput, match=r"shape \[4\]"):
        rows.decode(request, "m")


@pytest.mark.parametrize(
    ("parameters", "wanted"),
    [
        ({"predict_proba": True}, True),
        ({"predict_proba": "True"}, True),
        ({"predict_proba": False}, False),
        ({}, False),
        (None, False),
    ],
)
def test_predict_proba_parameter(parameters: object, wanted: bool) -> None:
    body = {"instances": [[1]], "parameters": parameters}
    request = InferRequest("m", [], parameters=parameters if isinstance(parameters, dict) else None)

    assert rows.proba_requested(body) is wanted
    assert rows.proba_requested(request) is wanted


def test_v1_results_are_plain_python() -> None:
    result = rows.to_v1(np.array([0, 2], dtype=np.int64))

    assert result == {"predictions": [0, 2]}
    assert all(type(value) is int for value in result["predictions"])


def test_string_labels_become_a_bytes_tensor() -> None:
    output = rows.to_output("output-0", np.array(["setosa", "virginica"]))

    assert (output.datatype, output.shape) == ("BYTES", [2])
    assert output.as_numpy().tolist() == [b"setosa", b"virginica"]
