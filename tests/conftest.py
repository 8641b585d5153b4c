"""Fixtures every tier may use: trained example models and a running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import models
from tests.support.serving import RunningServer, serving, test_settings


@pytest.fixture(scope="session")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding an sklearn iris classifier as `model.joblib`."""
    return models.train_sklearn(tmp_path_factory.mktemp("sklearn-iris"))


@pytest.fixture(scope="module")
def iris_server(
    iris_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """`modelplane serve` of the iris model, in process, on free ports."""
    settings = test_settings(
        model_name="sklearn-iris",
        storage_uri=str(iris_dir),
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    with serving(settings) as running:
        yield running
