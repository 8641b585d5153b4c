"""The OpenAPI v3 schemas: structural, with the group-version-kind and the required fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelplane.resources import catalog, schema


@pytest.mark.parametrize("kind", catalog.KINDS, ids=lambda k: k.kind)
def test_each_kind_has_a_structural_schema_with_its_gvk(kind: catalog.Kind) -> None:
    document = schema.openapi_schema(kind)
    assert document["x-kubernetes-group-version-kind"] == [
        {"group": kind.group, "version": kind.version, "kind": kind.kind}
    ]
    assert document["type"] == "object"
    assert {"apiVersion", "kind", "metadata", "spec"} <= set(document["properties"])
    text = json.dumps(document)
    assert "$ref" not in text and '"null"' not in text


def predictor() -> dict[str, Any]:
    spec = schema.openapi_schema(catalog.INFERENCE_SERVICE)["properties"]["spec"]
    assert spec["required"] == ["predictor"]
    result: dict[str, Any] = spec["properties"]["predictor"]
    return result


def test_inference_service_schema_uses_kserves_field_names_and_bounds() -> None:
    props = predictor()["properties"]
    assert props["canaryTrafficPercent"] == {"minimum": 0, "maximum": 100, "type": "integer"}
    assert props["scaleMetric"]["enum"] == ["concurrency", "rps", "cpu", "memory"]
    model = props["model"]
    assert model["required"] == ["modelFormat"]
    assert model["properties"]["modelFormat"]["required"] == ["name"]
    assert model["properties"]["protocolVersion"]["enum"] == ["v1", "v2", "grpc-v2"]
    assert "storageUri" in props["sklearn"]["properties"]
    quantity = model["properties"]["resources"]["properties"]["limits"]["additionalProperties"]
    assert quantity["x-kubernetes-int-or-string"] is True


def test_pod_fields_are_declared_free_form() -> None:
    props = predictor()["properties"]
    assert props["affinity"] == {"x-kubernetes-preserve-unknown-fields": True}
    container = props["containers"]["items"]
    assert container["required"] == ["name"]
    assert "lifecycle" in container["properties"]


def test_serving_runtime_schema_requires_containers() -> None:
    document = schema.openapi_schema(catalog.CLUSTER_SERVING_RUNTIME)
    assert document["properties"]["kind"]["enum"] == ["ClusterServingRuntime"]
    spec = document["properties"]["spec"]
    assert spec["required"] == ["containers"]
    fmt = spec["properties"]["supportedModelFormats"]["items"]
    assert fmt["properties"]["priority"]["minimum"] == 1
