"""The model contract for the Hugging Face encoder tasks, checked the same way for each task.

Every task must be chosen from the files (config.json's architecture), load, answer V1 and V2
with transformers' own answers, describe itself in V2 metadata, refuse bad input with
`InvalidInput` and fail selection with a `ModelLoadError` that says what to fix. These are the
promises of `test_runtime_contract.py`, made for texts: there a BYTES tensor is a mistake, here
it is the input.
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
from modelplane.runtimes import hf_encoder, selector
from tests.contract import hf_cases
from tests.contract.hf_cases import HFCase


@pytest.fixture(scope="module")
def hf_case_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HFCase]:
    return hf_cases.build(tmp_path_factory.mktemp)


@pytest.fixture(scope="module", params=hf_cases.ENCODER_TASKS)
def case(request: pytest.FixtureRequest, hf_case_store: dict[str, HFCase]) -> HFCase:
    return hf_case_store[request.param]


@pytest.fixture(scope="module")
def loaded(case: HFCase) -> Model:
    model = selector.create_model("m", case.model_dir)
    model.load()
    return model


def v2_request(texts: list[str], shape: list[int] | None = None, **kwargs: Any) -> InferRequest:
    data = [text.encode() for text in texts]
    tensor = InferInput("text", shape or [len(texts)], "BYTES", data)
    return InferRequest("m", [tensor], **kwargs)


def assert_same(case: HFCase, actual: list[Any], texts: list[str]) -> None:
    expected = case.reference(texts)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        if case.task == "text_embedding":
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        elif case.task == "token_classification":
            assert got[: len(want)] == want  # the rest of a row is the batch's padding
        else:
            assert got == want


async def test_create_chooses_the_task_from_the_config(case: HFCase) -> None:
    model = selector.create_model("m", case.model_dir)

    assert isinstance(model, hf_encoder.EncoderModel)
    assert (model.name, model.platform, model.task) == ("m", "huggingface", case.task)
    assert not await is_ready(model)


async def test_load_makes_the_model_ready_and_stop_undoes_it(case: HFCase) -> None:
    model = selector.create_model("m", case.model_dir, model_format="huggingface")
    model.load()
    assert await is_ready(model)

    model.stop()

    assert not await is_ready(model)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_v1_predictions_are_transformers_own(case: HFCase, loaded: Model, key: str) -> None:
    result = loaded.predict({key: case.texts})

    assert isinstance(result, dict) and set(result) == {"predictions"}
    assert_same(case, result["predictions"], case.texts)


@pytest.mark.parametrize("shape", ["[n]", "[n, 1]"])
def test_v2_answers_as_v1_does(case: HFCase, loaded: Model, shape: str) -> None:
    dims = [len(case.texts)] if shape == "[n]" else [len(case.texts), 1]

    response = loaded.predict(v2_request(case.texts, dims, request_id="req-1"))

    assert isinstance(response, InferResponse)
    assert (response.id, response.model_name) == ("req-1", "m")
    [output] = response.outputs
    assert (output.name, output.datatype) == ("output-0", case.datatype)
    values = output.as_numpy().tolist()
    if case.datatype == "BYTES":
        values = [value.decode() for value in values]
    assert values == loaded.predict({"instances": case.texts})["predictions"]


def test_metadata_describes_what_predict_takes_and_returns(case: HFCase, loaded: Model) -> None:
    assert loaded.get_input_types() == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    response = loaded.predict(v2_request(case.texts))

    assert isinstance(response, InferResponse)
    [spec] = loaded.get_output_types()
    [output] = response.outputs
    assert (spec["name"], spec["datatype"]) == (output.name, output.datatype)
    assert len(spec["shape"]) == len(output.shape)
    assert all(want in (-1, got) for want, got in zip(spec["shape"], output.shape, strict=True))


BAD_V1 = {
    "numbers": ({"instances": [1, 2]}, "strings"),
    "empty": ({"instances": []}, "non-empty list of texts"),
    "no instances": ({"texts": ["a"]}, "instances"),
    "nested": ({"instances": [["a"]]}, "strings"),
}


@pytest.mark.parametrize(("payload", "message"), BAD_V1.values(), ids=BAD_V1.keys())
def test_bad_v1_input_is_invalid_input(loaded: Model, payload: Any, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        loaded.predict(payload)


BAD_V2 = {
    "no inputs": ([], "one BYTES input"),
    "FP32": ([InferInput("text", [2], "FP32", [1.0, 2.0])], "BYTES tensor"),
    "two inputs": (
        [InferInput("a", [1], "BYTES", [b"x"]), InferInput("b", [1], "BYTES", [b"y"])],
        "2 inputs",
    ),
    "a 2x2 matrix": ([InferInput("text", [2, 2], "BYTES", [b"a", b"b", b"c", b"d"])], r"\[n\]"),
    "not UTF-8": ([InferInput("text", [1], "BYTES", [b"\xff\xfe"])], "UTF-8"),
}


@pytest.mark.parametrize(("inputs", "message"), BAD_V2.values(), ids=BAD_V2.keys())
def test_bad_v2_input_is_invalid_input(loaded: Model, inputs: Any, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        loaded.predict(InferRequest("m", inputs))


def test_an_unknown_output_is_invalid_input(case: HFCase, loaded: Model) -> None:
    request = v2_request(case.texts, request_outputs=[RequestedOutput("labels")])

    with pytest.raises(errors.InvalidInput, match="output-0"):
        loaded.predict(request)


@pytest.mark.parametrize("by", ["files", "format"])
def test_an_empty_directory_is_a_load_error_naming_it(tmp_path: Path, by: str) -> None:
    model_format = "huggingface" if by == "format" else None

    with pytest.raises(errors.ModelLoadError, match=f"{tmp_path}.*no files"):
        selector.create_model("m", tmp_path, model_format=model_format)


def test_a_missing_tokenizer_is_a_load_error_saying_how_to_save_one(tmp_path: Path) -> None:
    from tests.support import hf_models

    hf_models.bert(tmp_path, "sequence_classification", with_tokenizer=False)
    model = selector.create_model("m", tmp_path)

    with pytest.raises(errors.ModelLoadError, match=r"no tokenizer.*tokenizer\.save_pretrained"):
        model.load()


def test_missing_weights_are_a_load_error_naming_the_files(case: HFCase, tmp_path: Path) -> None:
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(case.model_dir / name, tmp_path / name)
    model = selector.create_model("m", tmp_path)

    with pytest.raises(errors.ModelLoadError, match=r"model\.safetensors"):
        model.load()


def test_a_config_without_architectures_asks_for_a_task(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')

    with pytest.raises(errors.ModelLoadError, match="pass --task"):
        selector.create_model("m", tmp_path)
    model = selector.create_model("m", tmp_path, options={"task": "text-embedding"})
    assert isinstance(model, hf_encoder.EmbeddingModel)


def test_an_unknown_task_lists_the_known_ones(case: HFCase) -> None:
    with pytest.raises(errors.ModelLoadError, match="fill_mask, text_embedding"):
        selector.create_model("m", case.model_dir, options={"task": "summarization"})


def test_task_option_overrides_the_config(hf_case_store: dict[str, HFCase]) -> None:
    directory = hf_case_store["sequence_classification"].model_dir
    model = selector.create_model("m", directory, options={"task": "text_embedding"})
    model.load()

    result = model.predict({"instances": ["a good movie"]})

    assert isinstance(model, hf_encoder.EmbeddingModel)
    assert np.asarray(result["predictions"]).shape == (1, 32)


def test_fill_mask_without_a_mask_says_where_to_put_it(
    hf_case_store: dict[str, HFCase],
) -> None:
    model = selector.create_model("m", hf_case_store["fill_mask"].model_dir)
    model.load()

    with pytest.raises(errors.InvalidInput, match=r"text 1 has no mask token; put \[MASK\]"):
        model.predict({"instances": ["the [MASK] fox", "no mask here"]})
