"""Fixtures for the runtime contract suite: every runtime's case, built once per session."""

from __future__ import annotations

import pytest

from tests.contract import runtime_cases
from tests.contract.runtime_cases import RuntimeCase


@pytest.fixture(scope="session")
def runtime_case_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RuntimeCase]:
    return runtime_cases.build(tmp_path_factory.mktemp)


@pytest.fixture(params=runtime_cases.ALL_CASES)
def runtime_case(
    request: pytest.FixtureRequest, runtime_case_store: dict[str, RuntimeCase]
) -> RuntimeCase:
    """Every runtime, custom included."""
    return runtime_case_store[request.param]


@pytest.fixture(params=runtime_cases.FILE_CASES)
def file_runtime_case(
    request: pytest.FixtureRequest, runtime_case_store: dict[str, RuntimeCase]
) -> RuntimeCase:
    """The runtimes that read a model file (all but custom)."""
    return runtime_case_store[request.param]


@pytest.fixture(params=runtime_cases.TABULAR_CASES)
def tabular_case(
    request: pytest.FixtureRequest, runtime_case_store: dict[str, RuntimeCase]
) -> RuntimeCase:
    """The iris classifiers: scikit-learn, XGBoost, LightGBM and custom."""
    return runtime_case_store[request.param]


@pytest.fixture(params=runtime_cases.TABULAR_FILE_CASES)
def tabular_file_case(
    request: pytest.FixtureRequest, runtime_case_store: dict[str, RuntimeCase]
) -> RuntimeCase:
    """The iris classifiers read from a file (all but custom)."""
    return runtime_case_store[request.param]


@pytest.fixture(params=runtime_cases.TENSOR_CASES)
def tensor_case(
    request: pytest.FixtureRequest, runtime_case_store: dict[str, RuntimeCase]
) -> RuntimeCase:
    """The tensor runtimes: ONNX, PyTorch and TensorFlow."""
    return runtime_case_store[request.param]
