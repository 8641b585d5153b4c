"""The custom runtime: `--model-class` classes built as KServe builds custom models.

The classes under test live in this module and are named by `__name__`, so the import path
works under any pytest import mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelplane.core import errors, model
from modelplane.core.model import Model
from modelplane.runtimes import selector


class NameOnly(Model):
    platform = "custom"


class WithModelDir(Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir


class PlainPredictor:
    """Not a `Model`: only the predict method a user might write first."""

    def __init__(self, name: str) -> None:
        self.label = f"plain:{name}"

    def predict(self, payload: Any, headers: Any = None) -> dict[str, Any]:
        return {"predictions": [self.label]}


class AsyncPredictor:
    async def predict(self, payload: Any, headers: Any = None) -> dict[str, Any]:
        return {"predictions": [1]}


class NoPredict:
    def __init__(self, name: str) -> None:
        self.name = name


class Exploding(Model):
    def __init__(self, name: str) -> None:
        raise RuntimeError("no GPU here")


def not_a_class(name: str) -> None:
    """A function where a class is expected."""


def path(attr: str) -> str:
    return f"{__name__}:{attr}"


def test_a_model_subclass_is_built_with_the_name(tmp_path: Path) -> None:
    built = selector.create_model("m", tmp_path, model_class=path("NameOnly"))

    assert type(built) is NameOnly
    assert (built.name, built.ready) == ("m", False)


def test_model_dir_is_passed_as_a_string_when_init_takes_it(tmp_path: Path) -> None:
    built = selector.create_model("m", tmp_path, model_class=path("WithModelDir"))

    assert isinstance(built, WithModelDir)
    assert built.model_dir == str(tmp_path)


def test_the_format_custom_may_accompany_the_class() -> None:
    built = selector.create_model("m", None, model_format="Custom", model_class=path("NameOnly"))

    assert type(built) is NameOnly


def test_a_class_with_predict_becomes_a_model() -> None:
    built = selector.create_model("m", None, model_class=path("PlainPredictor"))

    assert isinstance(built, Model) and isinstance(built, PlainPredictor)
    assert built.name == "m"
    assert built.load() is True and built.ready is True
    assert built.predict({}) == {"predictions": ["plain:m"]}
    assert model.overrides(built, "predict") and not model.overrides(built, "preprocess")


def test_an_async_predict_stays_async() -> None:
    built = selector.create_model("m", None, model_class=path("AsyncPredictor"))

    assert model.is_async(built, "predict")


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("NoPredict", "no predict method"),
        ("not_a_class", "not a class"),
        ("Exploding", r"cannot build .*Exploding\('m'\): RuntimeError: no GPU here"),
        ("WithModelDir", r"cannot build .*WithModelDir\('m'\)"),
        ("Missing", "has no attribute 'Missing'"),
    ],
)
def test_unusable_classes_are_load_errors(attr: str, message: str) -> None:
    with pytest.raises(errors.ModelLoadError, match=message):
        selector.create_model("m", None, model_class=path(attr))


def test_an_unimportable_module_is_a_load_error() -> None:
    with pytest.raises(errors.ModelLoadError, match="cannot import module"):
        selector.create_model("m", None, model_class="no_such_package.models:Model")
