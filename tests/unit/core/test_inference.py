"""Tensors, requests and responses: conversion, validation and KServe-style accessors."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferInput, InferOutput, InferRequest, InferResponse


@pytest.mark.parametrize("datatype", [d for d in datatypes.DATATYPES if d != "BYTES"])
def test_json_data_becomes_an_array_of_the_datatype(datatype: str) -> None:
    tensor = InferInput("x", [2, 2], datatype, [[1, 0], [1, 1]])
    array = tensor.as_numpy()
    assert array.dtype == datatypes.to_numpy(datatype)
    assert array.shape == (2, 2)
    assert tensor.as_numpy() is array  # converted once


def test_flat_data_is_reshaped() -> None:
    assert InferInput("x", [2, 3], "INT32", [1, 2, 3, 4, 5, 6]).as_numpy()[1, 2] == 6


def test_bytes_accept_strings_and_bytes() -> None:
    tensor = InferInput("s", [2], "BYTES", ["héllo", b"raw"])
    assert tensor.as_numpy().tolist() == ["héllo".encode(), b"raw"]
    assert tensor.as_string() == ["héllo", "raw"]


@pytest.mark.parametrize(
    ("shape", "datatype", "data", "fragment"),
    [
        ([3], "FP32", [1.0, 2.0], "has 2 elements but shape [3] needs 3"),
        ([2], "INT8", [1, 300], "not valid INT8"),
        ([1], "FP64", ["abc"], "not valid FP64"),
        ([-1], "FP32", [1.0], "non-negative"),
        ([1], "BYTES", [3], "not valid BYTES"),
        ([1], "FP32", None, "has no data"),
    ],
)
def test_bad_data_is_invalid_input(
    shape: list[int], datatype: str, data: object, fragment: str
) -> None:
    with pytest.raises(errors.InvalidInput, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        InferInput("x", shape, datatype, data).as_numpy()


def test_unknown_datatype_names_the_known_ones() -> None:
    with pytest.raises(errors.UnsupportedDatatype, match="FP32"):
        InferInput("x", [1], "FLOAT", [1.0]).as_numpy()


def test_set_data_from_numpy_checks_the_datatype_and_takes_the_shape() -> None:
    output = InferOutput("y", [], "FP32")
    output.set_data_from_numpy(np.zeros((2, 3), dtype=np.float32))
    assert output.shape == [2, 3]
    assert output.data == [[0.0] * 3] * 2
    with pytest.raises(errors.InvalidInput, match="FP32"):
        output.set_data_from_numpy(np.zeros(2, dtype=np.int64))


def test_lookups_by_name() -> None:
    a, b = InferInput("a", [1], "FP32", [1.0]), InferInput("b", [1], "FP32", [2.0])
    request = InferRequest("m", [a, b], request_id="1")
    assert request.get_input_by_name("b") is b
    assert request.get_input_by_name("c") is None
    out = InferOutput("y", [1], "FP32", np.ones(1, dtype=np.float32))
    assert InferResponse("1", "m", [out]).get_output_by_name("y") is out


def test_numpy_dtype_to_datatype() -> None:
    assert datatypes.from_numpy(np.dtype(">f4")) == "FP32"
    assert datatypes.from_numpy(np.dtype("U3")) == "BYTES"
    with pytest.raises(errors.UnsupportedDatatype):
        datatypes.from_numpy(np.dtype("complex64"))
