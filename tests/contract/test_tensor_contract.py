"""What tensor runtimes (ONNX, PyTorch, TensorFlow) promise beyond the common contract.

Their inputs have names, datatypes and shapes; a V2 request is matched to them by name, in any
order, and each mistake is refused with a message naming the input and what the model takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core import datatypes, errors
from modelplane.core.inference import InferInput, InferRequest
from modelplane.core.model import Model
from modelplane.runtimes import selector
from tests.contract import runtime_cases
from tests.contract.checks import assert_answers, v2_request
from tests.contract.runtime_cases import MULTI_INPUT_CASES, RuntimeCase

Array = np.ndarray[Any, Any]

SINGLE_INPUT = [
    case for case in runtime_cases.TENSOR_CASES if case in runtime_cases.SINGLE_INPUT_CASES
]
# The datatype each input's wrong one is: same kind of number, another width.
OTHER = {"FP32": "FP64", "INT64": "INT32"}


@pytest.fixture
def loaded(tensor_case: RuntimeCase) -> Model:
    model = selector.create_model("m", tensor_case.model_dir)
    model.load()
    return model


def test_inputs_are_matched_by_name_in_any_order(tensor_case: RuntimeCase, loaded: Model) -> None:
    reversed_inputs = dict(reversed(tensor_case.inputs.items()))

    response = loaded.predict(v2_request(reversed_inputs))

    assert_answers(response, tensor_case.reference(tensor_case.inputs))


def test_rows_go_through_in_any_number(tensor_case: RuntimeCase, loaded: Model) -> None:
    one_row = {name: array[:1] for name, array in tensor_case.inputs.items()}

    response = loaded.predict(v2_request(one_row))

    assert_answers(response, tensor_case.reference(one_row))


def test_a_wrong_datatype_names_the_input_and_the_one_it_takes(
    tensor_case: RuntimeCase, loaded: Model
) -> None:
    for name, array in tensor_case.inputs.items():
        want = datatypes.from_numpy(array.dtype)
        wrong = {**tensor_case.inputs, name: array.astype(datatypes.to_numpy(OTHER[want]))}

        with pytest.raises(errors.InvalidInput, match=rf"'{name}' is {OTHER[want]}.*{want}"):
            loaded.predict(v2_request(wrong))


def test_a_wrong_shape_names_the_input_and_the_shape_it_takes(
    tensor_case: RuntimeCase, loaded: Model
) -> None:
    for spec in loaded.get_input_types():
        array = tensor_case.inputs[spec["name"]]
        wrong = {**tensor_case.inputs, spec["name"]: array[None]}  # one dimension too many
        expected = str(spec["shape"]).replace("[", r"\[").replace("]", r"\]")

        with pytest.raises(errors.InvalidInput, match=rf"'{spec['name']}' has shape.*{expected}"):
            loaded.predict(v2_request(wrong))


@pytest.mark.parametrize("tensor_case", MULTI_INPUT_CASES, indirect=True)
def test_a_missing_input_is_named(tensor_case: RuntimeCase, loaded: Model) -> None:
    *given, missing = tensor_case.inputs

    with pytest.raises(errors.InvalidInput, match=f"missing input '{missing}'"):
        loaded.predict(v2_request({name: tensor_case.inputs[name] for name in given}))


def test_an_unknown_input_is_named_with_the_known_ones(
    tensor_case: RuntimeCase, loaded: Model
) -> None:
    first, array = next(iter(tensor_case.inputs.items()))
    inputs = {**tensor_case.inputs, "extra": array}
    inputs.pop(first)

    with pytest.raises(errors.InvalidInput, match=f"no input 'extra'.*'{first}'"):
        loaded.predict(v2_request(inputs))


def test_the_same_input_twice_is_invalid(tensor_case: RuntimeCase, loaded: Model) -> None:
    request = v2_request(tensor_case.inputs)
    request.inputs.append(request.inputs[0])

    with pytest.raises(errors.InvalidInput, match="once"):
        loaded.predict(request)


@pytest.mark.parametrize("tensor_case", SINGLE_INPUT, indirect=True)
def test_v1_rows_are_cast_to_the_input_datatype(tensor_case: RuntimeCase, loaded: Model) -> None:
    [array] = tensor_case.inputs.values()
    whole = np.rint(array)  # integers in JSON, for a floating-point input

    result = loaded.predict({"instances": whole.astype(np.int64).tolist()})

    assert isinstance(result, dict)
    [name] = tensor_case.inputs
    reference = tensor_case.reference({name: whole.astype(array.dtype)})
    np.testing.assert_array_equal(result["predictions"], next(iter(reference.values())))


BAD_V1 = {
    "strings": ({"instances": [["a", "b", "c", "d"]]}, "numbers"),
    "ragged rows": ({"instances": [[1.0, 2.0, 3.0, 4.0], [1.0]]}, "same shape"),
    "no instances": ({"rows": [[1.0, 2.0, 3.0, 4.0]]}, "instances"),
    "empty": ({"instances": []}, "empty"),
    "short rows": ({"instances": [[1.0, 2.0, 3.0]]}, r"shape \[1, 3\].*\[-1, 4\]"),
}


@pytest.mark.parametrize("tensor_case", SINGLE_INPUT, indirect=True)
@pytest.mark.parametrize(("body", "message"), BAD_V1.values(), ids=BAD_V1.keys())
def test_bad_v1_input_says_what_to_fix(loaded: Model, body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        loaded.predict(body)


def test_a_read_only_buffer_is_served(tensor_case: RuntimeCase, loaded: Model) -> None:
    # Tensors sent over the binary extension or gRPC arrive as views of the immutable body.
    inputs = []
    for name, array in tensor_case.inputs.items():
        frozen = np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)
        assert not frozen.flags.writeable
        datatype = datatypes.from_numpy(array.dtype)
        inputs.append(InferInput(name, list(array.shape), datatype, frozen))

    response = loaded.predict(InferRequest("m", inputs))

    assert_answers(response, tensor_case.reference(tensor_case.inputs))
