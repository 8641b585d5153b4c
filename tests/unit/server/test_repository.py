"""The model repository: states, versions, load and unload, with a fake builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelplane.core import errors
from modelplane.core.model import Model
from modelplane.server.repository import ModelRepository, ModelSpec, version_dirs


class Counting(Model):
    loads = 0
    stops = 0

    def load(self) -> bool:
        Counting.loads += 1
        self.ready = True
        return True

    def stop(self) -> None:
        Counting.stops += 1
        self.ready = False


def builder(spec: ModelSpec) -> dict[str | None, Model]:
    if spec.storage_uri == "broken":
        raise errors.StorageNotFound("nothing at 'broken'")
    models: dict[str | None, Model] = {}
    for version in (spec.storage_uri or "").split(",") if spec.storage_uri else [None]:
        model = Counting(spec.name)
        model.version = version
        models[version] = model
    return models


async def test_states_through_load_and_unload() -> None:
    repo = ModelRepository(builder)
    repo.add_spec(ModelSpec("m"))
    assert repo.index() == [{"name": "m", "state": "UNAVAILABLE", "reason": ""}]
    with pytest.raises(errors.ModelNotReady):
        repo.get("m")
    await repo.load("m")
    assert repo.get("m").ready
    assert await repo.all_ready()
    stops = Counting.stops
    await repo.unload("m")
    assert Counting.stops == stops + 1
    assert repo.index()[0]["state"] == "UNAVAILABLE"
    assert not await repo.is_ready("m")
    with pytest.raises(errors.ModelUnloaded, match="POST /v2/repository/models/m/load"):
        repo.get("m")
    assert await repo.all_ready()  # an unloaded model does not hold the server back
    await repo.load("m")
    assert await repo.is_ready("m")


async def test_unknown_model_is_not_found() -> None:
    repo = ModelRepository(builder)
    with pytest.raises(errors.ModelNotFound):
        repo.get("nope")
    with pytest.raises(errors.ModelNotFound):
        await repo.load("nope")


async def test_failed_load_records_the_reason() -> None:
    repo = ModelRepository(builder)
    repo.add_spec(ModelSpec("m", storage_uri="broken"))
    with pytest.raises(errors.StorageNotFound):
        await repo.load("m")
    assert repo.index() == [{"name": "m", "state": "UNAVAILABLE", "reason": "nothing at 'broken'"}]


async def test_versions_default_to_the_highest() -> None:
    repo = ModelRepository(builder)
    repo.add_spec(ModelSpec("m", storage_uri="1,2,10"))
    await repo.load("m")
    assert repo.versions("m") == ["1", "2", "10"]
    assert repo.get("m").version == "10"
    assert repo.get("m", "2").version == "2"
    with pytest.raises(errors.ModelNotFound, match="version '3'"):
        repo.get("m", "3")


async def test_model_objects_are_loaded_once() -> None:
    class Preloaded(Model):
        calls = 0

        def load(self) -> bool:
            Preloaded.calls += 1
            self.ready = True
            return True

    model = Preloaded("p")
    model.load()
    repo = ModelRepository(builder)
    repo.add_model(model)
    await repo.load_all()
    assert Preloaded.calls == 1
    assert repo.get("p") is model


async def test_a_load_that_leaves_the_model_unready_fails() -> None:
    class NeverReady(Model):
        def load(self) -> Any:
            return False

    repo = ModelRepository(builder)
    repo.add_model(NeverReady("n"))
    with pytest.raises(errors.ModelLoadError, match="not ready"):
        await repo.load("n")


def test_version_dirs(tmp_path: Path) -> None:
    assert version_dirs(tmp_path) == {None: tmp_path}
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    assert version_dirs(tmp_path) == {"1": tmp_path / "1", "2": tmp_path / "2"}
    (tmp_path / "model.joblib").write_bytes(b"")
    assert version_dirs(tmp_path) == {None: tmp_path}
