"""The selector: runtime by model format, by model class, and by the files in the directory.

These tests write files that only look like models (the selector reads names and a few leading
bytes, never a framework), so they run without scikit-learn, XGBoost or LightGBM.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.runtimes import selector
from modelplane.runtimes.lightgbm import LightGBMModel
from modelplane.runtimes.onnx import ONNXModel
from modelplane.runtimes.pytorch import PyTorchModel
from modelplane.runtimes.sklearn import SKLearnModel
from modelplane.runtimes.xgboost import XGBoostModel

LIGHTGBM_TEXT = b"tree\nversion=v4\nnum_class=3\n"
XGBOOST_JSON = b'{"learner":{"attributes":{},"feature_names":[]},"version":[3,2,0]}'
XGBOOST_UBJ = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{"


def write(directory: Path, name: str, content: bytes = b"") -> Path:
    path = directory / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "runtime"),
    [
        ("model.joblib", b"", SKLearnModel),
        ("model.pkl", b"", SKLearnModel),
        ("model.pickle", b"", SKLearnModel),
        ("model.json", XGBOOST_JSON, XGBoostModel),
        ("model.ubj", XGBOOST_UBJ, XGBoostModel),
        ("model.bst", XGBOOST_UBJ, XGBoostModel),
        ("model.txt", LIGHTGBM_TEXT, LightGBMModel),
        ("model.bst", LIGHTGBM_TEXT, LightGBMModel),
        ("MODEL.JOBLIB", b"", SKLearnModel),
        ("model.onnx", b"", ONNXModel),
        ("Model.ONNX", b"", ONNXModel),
        ("model.pt", b"", PyTorchModel),
        ("model.pt2", b"", PyTorchModel),
    ],
)
def test_the_files_choose_the_runtime(
    tmp_path: Path, name: str, content: bytes, runtime: type
) -> None:
    write(tmp_path, name, content)

    model = selector.create_model("m", tmp_path)

    assert type(model) is runtime
    assert model.name == "m"
    assert model.ready is False


def test_files_that_are_not_models_are_left_alone(tmp_path: Path) -> None:
    write(tmp_path, "model.joblib")
    write(tmp_path, "README.txt", b"how to use this model")
    write(tmp_path, "config.json", b'{"threshold": 0.5}')
    write(tmp_path, ".model.json.swp", XGBOOST_JSON)

    assert type(selector.create_model("m", tmp_path)) is SKLearnModel


def test_a_model_dir_may_be_the_model_file_itself(tmp_path: Path) -> None:
    path = write(tmp_path, "model.txt", LIGHTGBM_TEXT)

    assert type(selector.create_model("m", path)) is LightGBMModel


@pytest.mark.parametrize(
    ("model_format", "runtime"),
    [("sklearn", SKLearnModel), (" XGBoost ", XGBoostModel), ("LIGHTGBM", LightGBMModel)],
)
def test_the_format_chooses_the_runtime(tmp_path: Path, model_format: str, runtime: type) -> None:
    write(tmp_path, "model.bst", LIGHTGBM_TEXT if runtime is LightGBMModel else XGBOOST_UBJ)
    write(tmp_path, "model.joblib")

    assert type(selector.create_model("m", tmp_path, model_format=model_format)) is runtime


def test_an_unknown_format_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        errors.ModelLoadError, match="known formats: sklearn, xgboost, lightgbm, onnx, pytorch"
    ) as caught:
        selector.create_model("m", tmp_path, model_format="pmml")

    assert "onnxruntime (onnx), torch (pytorch), torchscript (pytorch)" in str(caught.value)


@pytest.mark.parametrize(
    ("model_format", "runtime"),
    [("onnxruntime", ONNXModel), ("torch", PyTorchModel), (" TorchScript ", PyTorchModel)],
)
def test_aliases_name_a_runtime(tmp_path: Path, model_format: str, runtime: type) -> None:
    write(tmp_path, "model.onnx")
    write(tmp_path, "model.pt")

    assert type(selector.create_model("m", tmp_path, model_format=model_format)) is runtime


def test_a_pytorch_sidecar_is_not_taken_for_a_model(tmp_path: Path) -> None:
    write(tmp_path, "model.pt")
    write(tmp_path, "model.json", b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}')

    assert type(selector.create_model("m", tmp_path)) is PyTorchModel


def test_torchscript_and_an_exported_program_ask_to_keep_one(tmp_path: Path) -> None:
    write(tmp_path, "model.pt")
    write(tmp_path, "model.pt2")

    with pytest.raises(errors.ModelLoadError, match=r"2 pytorch model files .*model.pt, model.pt2"):
        selector.create_model("m", tmp_path)


def test_the_format_custom_needs_a_class(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadError, match="--model-class"):
        selector.create_model("m", tmp_path, model_format="custom")


def test_a_class_with_another_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadError, match="'sklearn'"):
        selector.create_model("m", tmp_path, model_format="sklearn", model_class="pkg:Model")


def test_no_model_file_names_the_directory_the_files_and_the_fix(tmp_path: Path) -> None:
    write(tmp_path, "notes.md")
    write(tmp_path, "config.json", b"{}")

    with pytest.raises(errors.ModelLoadError) as caught:
        selector.create_model("m", tmp_path)

    message = str(caught.value)
    for part in (str(tmp_path), "config.json", "notes.md", "*.joblib", "--model-format"):
        assert part in message


def test_model_files_of_two_runtimes_ask_for_a_format(tmp_path: Path) -> None:
    write(tmp_path, "model.joblib")
    write(tmp_path, "model.txt", LIGHTGBM_TEXT)

    with pytest.raises(errors.ModelLoadError, match=r"model.joblib \(sklearn\), model.txt"):
        selector.create_model("m", tmp_path)
    assert type(selector.create_model("m", tmp_path, model_format="lightgbm")) is LightGBMModel


def test_two_files_of_one_runtime_ask_to_keep_one(tmp_path: Path) -> None:
    write(tmp_path, "a.joblib")
    write(tmp_path, "b.pkl")

    with pytest.raises(errors.ModelLoadError, match=r"2 sklearn model files .*a.joblib, b.pkl"):
        selector.create_model("m", tmp_path)


@pytest.mark.parametrize("model_format", [None, "xgboost"])
def test_a_missing_directory_is_a_load_error(tmp_path: Path, model_format: str | None) -> None:
    with pytest.raises(errors.ModelLoadError, match="does not exist"):
        selector.create_model("m", tmp_path / "absent", model_format=model_format)


@pytest.mark.parametrize("model_format", [None, "sklearn"])
def test_no_directory_is_a_load_error(model_format: str | None) -> None:
    with pytest.raises(errors.ModelLoadError, match="--storage-uri"):
        selector.create_model("m", None, model_format=model_format)


def test_a_corrupt_file_fails_in_load_as_a_load_error(tmp_path: Path) -> None:
    write(tmp_path, "model.json", XGBOOST_JSON[:20] + b"...")
    model = selector.create_model("m", tmp_path)

    with pytest.raises(errors.ModelLoadError, match=r"cannot load .*model.json as a xgboost model"):
        model.load()
