"""Named tensors checked against a signature, without any framework: the tensor runtimes' codec."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest
from modelplane.runtimes import tensor_model, tensors
from modelplane.runtimes.tensors import TensorSpec

IMAGE = TensorSpec("image", "FP32", (-1, 3, 2, 2))
TEXT = TensorSpec("text", "BYTES", (-1,))


@pytest.mark.parametrize(
    ("shape", "fits"),
    [((1, 3, 2, 2), True), ((8, 3, 2, 2), True), ((1, 1, 2, 2), False), ((3, 2, 2), False)],
)
def test_minus_one_fits_any_size_and_nothing_else_is_loose(
    shape: tuple[int, ...], fits: bool
) -> None:
    assert IMAGE.fits(shape) is fits


def test_v2_inputs_come_out_in_the_models_order() -> None:
    first, second = TensorSpec("a", "INT64", (-1,)), TensorSpec("b", "FP64", (-1,))
    request = InferRequest(
        "m", [InferInput("b", [1], "FP64", [0.5]), InferInput("a", [1], "INT64", [7])]
    )

    arrays = tensors.from_v2(request, [first, second], "m")

    assert [array.tolist() for array in arrays] == [[7], [0.5]]


def test_without_a_signature_v2_inputs_keep_the_requests_order() -> None:
    request = InferRequest(
        "m", [InferInput("z", [1], "FP32", [1.0]), InferInput("y", [1], "INT8", [2])]
    )

    arrays = tensors.from_v2(request, [], "m")

    assert [array.dtype.name for array in arrays] == ["float32", "int8"]


def test_v1_rows_stack_into_the_one_input() -> None:
    rows = np.zeros((2, 3, 2, 2)).tolist()

    array = tensors.from_v1({"instances": rows}, [IMAGE], "m")

    assert (array.shape, array.dtype.name) == ((2, 3, 2, 2), "float32")


def test_v1_rows_without_a_signature_are_fp32() -> None:
    array = tensors.from_v1({"instances": [[1, 2], [3, 4]]}, [], "m")

    assert array.dtype.name == "float32"


def test_v1_strings_feed_a_bytes_input() -> None:
    array = tensors.from_v1({"instances": ["hello", "world"]}, [TEXT], "m")

    assert array.tolist() == [b"hello", b"world"]


def test_v1_booleans_are_numbers_but_strings_are_not() -> None:
    flags = tensors.from_v1({"instances": [[True, False, True, True]]}, [], "m")
    assert flags.tolist() == [[1.0, 0.0, 1.0, 1.0]]

    with pytest.raises(errors.InvalidInput, match="only numbers"):
        tensors.from_v1({"instances": [["1.5"]]}, [], "m")


def test_string_outputs_become_utf8_bytes() -> None:
    output = tensors.to_output("label", np.array(["setosa", "virginica"]))

    assert (output.datatype, output.as_numpy().tolist()) == ("BYTES", [b"setosa", b"virginica"])


@pytest.mark.parametrize(
    ("device", "parsed"),
    [(None, None), ("", None), ("cpu", ("cpu", 0)), ("CUDA", ("cuda", 0)), ("cuda:3", ("cuda", 3))],
)
def test_devices_are_cpu_or_cuda_with_an_index(
    device: str | None, parsed: tuple[str, int] | None
) -> None:
    assert tensor_model.parse_device(device) == parsed


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cpu:1", "mps"])
def test_other_devices_are_refused_saying_which_exist(device: str) -> None:
    with pytest.raises(errors.ModelLoadError, match="pass cpu, cuda or cuda:N"):
        tensor_model.parse_device(device)
