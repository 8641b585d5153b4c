"""Servers for the `kserve` client tests: the KServe-style custom model, served by modelplane.

This directory imports `kserve` and never tritonclient (their generated protobuf stubs clash in
protobuf's default pool), so it runs in a pytest process of its own; every test that imports
`kserve` lives here (test_export_schema.py checks manifests against its models).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest

from tests.integration.kserve_client.kserve_style_models import (
    Base64TextModel,
    IrisModel,
    TaggingIrisModel,
)
from tests.support.serving import RunningServer, serving, test_settings


@pytest.fixture(scope="session")
def iris_estimator(iris_dir: Path) -> Any:
    """The served iris model as scikit-learn loads it: the truth every client must match."""
    return joblib.load(iris_dir / "model.joblib")


@pytest.fixture(scope="module")
def kserve_model_server() -> Iterator[RunningServer]:
    """The KServe-style models, handed to the server as objects, as
    `ModelServer().start([model])` does in a KServe script."""
    models = [
        IrisModel("kserve-iris"),
        TaggingIrisModel("kserve-iris-tagging"),
        Base64TextModel("kserve-text"),
    ]
    with serving(test_settings(), models=models) as running:
        yield running


@pytest.fixture(scope="module")
def reload_server() -> Iterator[RunningServer]:
    """A server of its own for unload/load, so that those calls disturb no other test."""
    with serving(test_settings(), models=[IrisModel("kserve-iris-reload")]) as running:
        yield running
