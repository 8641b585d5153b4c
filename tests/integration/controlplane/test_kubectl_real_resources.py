"""kubectl against the API server wired to the real validation and OpenAPI schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.resources import catalog, schema, validation
from tests.support.apiserver import ApiServer
from tests.support.manifests import SEED


def real_validate(kind: catalog.Kind, obj: dict[str, Any], mode: str) -> tuple[dict, list[str]]:
    if not kind.user_writable:
        return obj, []
    return validation.validate(obj, field_validation=mode)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    running = ApiServer(tmp_path / "home", validate=real_validate,
                        schema=schema.openapi_schema).start()
    try:
        yield running
    finally:
        running.stop()


def write(tmp_path: Path, text: str, name: str = "isvc.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_seed_yaml_applies_and_updates(server: ApiServer, tmp_path: Path) -> None:
    path = write(tmp_path, SEED)
    first = server.kubectl("apply", "-f", path)
    assert "created" in first.stdout and "warning" not in first.stderr.lower()
    assert "unchanged" in server.kubectl("apply", "-f", path).stdout
    write(tmp_path, SEED.replace("  predictor:\n", "  predictor:\n    minReplicas: 0\n"))
    assert "configured" in server.kubectl("apply", "-f", path).stdout
    obj = json.loads(server.kubectl("get", "isvc", "sklearn-iris", "-o", "json").stdout)
    assert obj["spec"]["predictor"]["minReplicas"] == 0
    assert "serverside-applied" in server.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", path).stdout


def test_invalid_spec_is_refused_with_the_field_path(server: ApiServer, tmp_path: Path) -> None:
    unknown = SEED.replace("storageUri:", "storageURI:")
    result = server.kubectl("apply", "-f", write(tmp_path, unknown), check=False)
    assert result.returncode != 0
    assert "storageURI" in result.stderr
    assert server.kubectl("get", "isvc", "-o", "name").stdout.strip() == ""


def test_explain_like_openapi_is_readable(server: ApiServer) -> None:
    explained = server.kubectl("explain", "isvc.spec", check=False)
    assert explained.returncode == 0, explained.stderr
    assert "predictor" in explained.stdout
