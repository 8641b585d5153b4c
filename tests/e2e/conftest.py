"""Fixtures of the control plane's e2e tests: trained models and a running `modelplane up`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controlplane import ControlPlane
from tests.support.models import train_sklearn


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two iris models in two directories: a change of storageUri is a new revision."""
    return (
        train_sklearn(tmp_path_factory.mktemp("v1")),
        train_sklearn(tmp_path_factory.mktemp("v2")),
    )


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path / "home") as running:
        running.wait_up()
        yield running
        assert running.terminate() == 0, running.output
        # A stopped control plane stops its replicas: no record is left behind.
        assert not list((tmp_path / "home" / "replicas").glob("*.json"))
