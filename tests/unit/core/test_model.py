"""The Model contract: readiness as attribute, method or coroutine; hook introspection."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.core import errors
from modelplane.core.importing import import_string
from modelplane.core.model import Model, is_async, is_ready, overrides


class Attribute(Model):
    def load(self) -> bool:
        self.ready = True
        return True


class Method(Model):
    def ready(self) -> bool:  # type: ignore[override]
        return True


class Coroutine(Model):
    async def ready(self) -> bool:  # type: ignore[override]
        return True

    async def predict(self, payload: Any, headers: Any = None) -> Any:
        return payload


async def test_ready_attribute_method_and_coroutine() -> None:
    model = Attribute("a")
    assert not await is_ready(model)
    model.load()
    assert await is_ready(model)
    assert await is_ready(Method("m"))
    assert await is_ready(Coroutine("c"))


def test_overrides_and_async_hooks() -> None:
    assert overrides(Coroutine("c"), "predict")
    assert not overrides(Coroutine("c"), "preprocess")
    assert is_async(Coroutine("c"), "predict")
    assert not is_async(Attribute("a"), "preprocess")


def test_default_predict_and_explain_are_not_supported() -> None:
    with pytest.raises(errors.NotSupported):
        Model("m").predict({})
    with pytest.raises(errors.NotSupported, match="explain"):
        Model("m").explain({})


def test_import_string() -> None:
    assert import_string("modelplane.core.model:Model") is Model
    assert import_string("modelplane.core.model.Model") is Model
    with pytest.raises(errors.ModelLoadError, match="no_such_module"):
        import_string("no_such_module:X")
    with pytest.raises(errors.ModelLoadError, match="has no attribute"):
        import_string("modelplane.core.model:Nope")
    with pytest.raises(errors.ModelLoadError, match="import path"):
        import_string("nodots")
