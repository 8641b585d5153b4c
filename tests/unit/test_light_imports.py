"""`import modelplane` and `modelplane --help` stay light: no ML framework, no server stack."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "xgboost", "lightgbm", "boto3", "botocore", "torch", "onnxruntime",
         "transformers", "tokenizers", "safetensors", "huggingface_hub", "scipy",
         "pandas", "tensorflow", "keras")  # fmt: skip
SERVER_STACK = ("grpc", "uvicorn", "starlette", "prometheus_client")
PRINT_MODULES = "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))"


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\n{PRINT_MODULES}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split("MODULES", 1)[1].split())


def test_import_modelplane_loads_no_framework_and_no_server() -> None:
    loaded = _loaded_after("import modelplane")
    assert loaded.isdisjoint(HEAVY + SERVER_STACK), loaded & set(HEAVY + SERVER_STACK)


def test_the_model_contract_loads_no_framework() -> None:
    loaded = _loaded_after("from modelplane import Model, InferRequest, InferResponse")
    assert loaded.isdisjoint(HEAVY + SERVER_STACK), loaded & set(HEAVY + SERVER_STACK)


def test_cli_help_loads_no_framework_and_no_server() -> None:
    statement = (
        "from modelplane.cli.main import cli\n"
        "try:\n    cli(['serve', '--help'])\nexcept SystemExit:\n    pass"
    )
    code = f"import sys\n{statement}\n{PRINT_MODULES}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "--storage-uri" in result.stdout
    loaded = set(result.stdout.split("MODULES", 1)[1].split())
    assert loaded.isdisjoint(HEAVY + SERVER_STACK), loaded & set(HEAVY + SERVER_STACK)
