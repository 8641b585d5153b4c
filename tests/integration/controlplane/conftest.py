"""Fixtures for the control plane's integration tests: a running API server with a kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import apiserver as support


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[support.ApiServer]:
    server = support.ApiServer(tmp_path / "home").start()
    try:
        yield server
    finally:
        server.stop()
