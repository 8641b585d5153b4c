"""The model contract, checked the same way for every runtime.

Every case (a scikit-learn, XGBoost, LightGBM, ONNX, PyTorch or TensorFlow model, or a custom
class) must load, answer a V2 request with the framework's own outputs, answer V1 when it has one
input (TensorFlow in TF Serving's format), refuse bad input with `InvalidInput`, describe itself
in V2 metadata, and fail selection with a `ModelLoadError` that names what it found. What only
tabular or only tensor runtimes promise is in `test_tabular_contract.py` and
`test_tensor_contract.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse, RequestedOutput
from modelplane.core.model import Model, is_ready
from modelplane.runtimes import selector
from tests.contract import runtime_cases
from tests.contract.checks import assert_answers, assert_same, v2_request
from tests.contract.runtime_cases import RuntimeCase
from tests.support.tensor_models import Named

Array = np.ndarray[Any, Any]


def create(runtime_case: RuntimeCase, model_dir: Path | None = None) -> Model:
    return selector.create_model(
        "m",
        runtime_case.model_dir if model_dir is None else model_dir,
        model_class=runtime_case.model_class,
    )


@pytest.fixture
def loaded(runtime_case: RuntimeCase) -> Model:
    model = create(runtime_case)
    model.load()
    return model


async def test_create_returns_an_unloaded_model(runtime_case: RuntimeCase) -> None:
    model = create(runtime_case)

    assert isinstance(model, Model)
    assert model.name == "m"
    assert model.platform == runtime_case.platform
    assert not await is_ready(model)


async def test_load_makes_the_model_ready_and_stop_undoes_it(loaded: Model) -> None:
    assert await is_ready(loaded)

    loaded.stop()

    assert not await is_ready(loaded)


def test_v2_predictions_are_the_frameworks(runtime_case: RuntimeCase, loaded: Model) -> None:
    response = loaded.predict(v2_request(runtime_case.inputs, request_id="req-1"))

    assert isinstance(response, InferResponse)
    assert (response.id, response.model_name) == ("req-1", "m")
    assert_answers(response, runtime_case.reference(runtime_case.inputs))


def test_v2_accepts_json_list_data(runtime_case: RuntimeCase, loaded: Model) -> None:
    response = loaded.predict(v2_request(runtime_case.inputs, as_lists=True))

    assert_answers(response, runtime_case.reference(runtime_case.inputs))


@pytest.mark.parametrize("runtime_case", runtime_cases.SINGLE_INPUT_CASES, indirect=True)
@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_v1_predictions_are_the_first_output(
    runtime_case: RuntimeCase, loaded: Model, key: str
) -> None:
    [array] = runtime_case.inputs.values()

    result = loaded.predict({key: array.tolist()})

    answer = "outputs" if key == "inputs" and runtime_case.tf_serving else "predictions"
    assert isinstance(result, dict) and set(result) == {answer}
    first = next(iter(runtime_case.reference(runtime_case.inputs).values()))
    assert_same(result[answer], first)


@pytest.mark.parametrize("runtime_case", runtime_cases.MULTI_INPUT_CASES, indirect=True)
def test_v1_on_a_model_with_several_inputs_names_them(
    runtime_case: RuntimeCase, loaded: Model
) -> None:
    first = next(iter(runtime_case.inputs.values()))

    with pytest.raises(errors.InvalidInput, match="V2") as caught:
        loaded.predict({"instances": first.tolist()})

    assert all(f"'{name}'" in str(caught.value) for name in runtime_case.inputs)


def test_an_output_asked_for_is_the_one_answered(runtime_case: RuntimeCase, loaded: Model) -> None:
    expected = runtime_case.reference(runtime_case.inputs)
    last = list(expected)[-1]
    request = v2_request(runtime_case.inputs, request_outputs=[RequestedOutput(last)])

    assert_answers(loaded.predict(request), {last: expected[last]})


# Custom models may ignore requested outputs: the DataPlane selects them for such models.
@pytest.mark.parametrize("runtime_case", runtime_cases.FILE_CASES, indirect=True)
def test_an_unknown_output_is_invalid_input(runtime_case: RuntimeCase, loaded: Model) -> None:
    request = v2_request(runtime_case.inputs, request_outputs=[RequestedOutput("no-such")])

    with pytest.raises(errors.InvalidInput, match="no-such"):
        loaded.predict(request)


def bad_inputs(inputs: Named) -> dict[str, list[InferInput]]:
    """Mistakes every runtime must refuse, made from one good request's inputs."""
    good = v2_request(inputs).inputs
    first = good[0]
    array = first.as_numpy()
    short = array[..., :-1]
    words = np.full(array.shape, b"a", dtype=np.object_)
    return {
        "no inputs": [],
        "BYTES": [InferInput(first.name, list(array.shape), "BYTES", words), *good[1:]],
        "one value short": [
            InferInput(first.name, list(short.shape), first.datatype, short),
            *good[1:],
        ],
        "an extra input": [*good, InferInput("no-such-input", first.shape, first.datatype, array)],
    }


@pytest.mark.parametrize("mistake", ["no inputs", "BYTES", "one value short", "an extra input"])
def test_bad_v2_input_is_invalid_input(
    runtime_case: RuntimeCase, loaded: Model, mistake: str
) -> None:
    inputs = bad_inputs(runtime_case.inputs)[mistake]

    with pytest.raises(errors.InvalidInput):
        loaded.predict(InferRequest("m", inputs))


def test_metadata_describes_what_predict_takes_and_returns(
    runtime_case: RuntimeCase, loaded: Model
) -> None:
    assert loaded.get_input_types() == runtime_case.input_types

    response = loaded.predict(v2_request(runtime_case.inputs))

    assert isinstance(response, InferResponse)
    described = {spec["name"]: spec for spec in loaded.get_output_types()}
    for output in response.outputs:
        spec = described[output.name]
        assert spec["datatype"] == output.datatype
        assert len(spec["shape"]) == len(output.shape)
        assert all(want in (-1, got) for want, got in zip(spec["shape"], output.shape, strict=True))


@pytest.mark.parametrize("by", ["files", "format"])
def test_an_empty_directory_is_a_load_error_naming_it(
    file_runtime_case: RuntimeCase, tmp_path: Path, by: str
) -> None:
    model_format = file_runtime_case.platform if by == "format" else None

    with pytest.raises(errors.ModelLoadError, match=f"{tmp_path}.*no files"):
        selector.create_model("m", tmp_path, model_format=model_format)


@pytest.mark.parametrize("by", ["files", "format"])
def test_two_model_files_are_a_load_error_naming_both(
    file_runtime_case: RuntimeCase, tmp_path: Path, by: str
) -> None:
    assert file_runtime_case.model_file is not None
    first = tmp_path / f"a{file_runtime_case.model_file.suffix}"
    second = tmp_path / f"b{file_runtime_case.model_file.suffix}"
    if file_runtime_case.platform == "tensorflow":  # a SavedModel's file has a fixed name
        first, second = tmp_path / "saved_model.pb", tmp_path / "saved_model.pbtxt"
    shutil.copy(file_runtime_case.model_file, first)
    shutil.copy(file_runtime_case.model_file, second)
    model_format = file_runtime_case.platform if by == "format" else None

    with pytest.raises(errors.ModelLoadError, match="keep one model file") as caught:
        selector.create_model("m", tmp_path, model_format=model_format)

    assert first.name in str(caught.value) and second.name in str(caught.value)


def test_load_errors_come_from_load_when_files_change(
    file_runtime_case: RuntimeCase, tmp_path: Path
) -> None:
    assert file_runtime_case.model_file is not None
    shutil.copy(file_runtime_case.model_file, tmp_path / file_runtime_case.model_file.name)
    model = selector.create_model("m", tmp_path)
    (tmp_path / file_runtime_case.model_file.name).unlink()

    with pytest.raises(errors.ModelLoadError, match="no files"):
        model.load()
