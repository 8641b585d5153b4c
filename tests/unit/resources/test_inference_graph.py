"""InferenceGraph admission: KServe's documented graphs are accepted unchanged, and what KServe's
webhook refuses is refused with its field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from modelplane.resources import catalog, schema, validation

# KServe's docs: the dog-breed pipeline (Sequence with a condition) and the ensemble vote.
DOCS = """\
apiVersion: "serving.kserve.io/v1alpha1"
kind: "InferenceGraph"
metadata:
  name: "dog-breed-pipeline"
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - serviceName: cat-dog-classifier
        name: cat_dog_classifier
      - serviceName: dog-breed-classifier
        name: dog_breed_classifier
        data: $request
        condition: "[@this].#(predictions.0==\\"dog\\")"
---
apiVersion: "serving.kserve.io/v1alpha1"
kind: "InferenceGraph"
metadata:
  name: "ensemble-2-avg-vote"
spec:
  routerTimeouts:
    serverRead: 30
    serverWrite: 30
    serverIdle: 60
    serviceClient: 10
  minReplicas: 1
  resources:
    requests: {cpu: 100m}
  nodes:
    root:
      routerType: Sequence
      steps:
        - nodeName: ensemble-2
          name: ensemble-2
        - serviceName: avg-vote
          name: avg-vote
          data: $response
    ensemble-2:
      routerType: Ensemble
      steps:
        - serviceName: classifier-1
          name: classifier-1
        - serviceName: classifier-2
"""


def ig(nodes: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": {"name": "g"},
        "spec": {"nodes": nodes, **spec},
    }


@pytest.mark.parametrize("doc", list(yaml.safe_load_all(DOCS)))
def test_kserves_documented_graphs_are_accepted_unchanged(doc: dict[str, Any]) -> None:
    accepted, warnings = validation.validate(doc)
    assert accepted == doc and warnings == []


SPLIT = {
    "routerType": "Splitter",
    "steps": [{"serviceName": "a", "weight": 20}, {"serviceName": "b", "weight": 70}],
}


@pytest.mark.parametrize(
    ("obj", "field", "message"),
    [
        (
            ig({"other": {"routerType": "Sequence", "steps": [{"serviceName": "a"}]}}),
            "spec.nodes.root",
            "Required value",
        ),
        (
            ig({"root": {"routerType": "Parallel", "steps": [{"serviceName": "a"}]}}),
            "spec.nodes.root.routerType",
            "Unsupported value",
        ),
        (
            ig({"root": {"routerType": "Sequence", "steps": [{"name": "x"}]}}),
            "spec.nodes.root.steps[0]",
            "exactly one of nodeName",
        ),
        (
            ig(
                {
                    "root": {
                        "routerType": "Sequence",
                        "steps": [{"serviceName": "a", "serviceUrl": "http://b"}],
                    }
                }
            ),
            "spec.nodes.root.steps[0]",
            "exactly one of nodeName",
        ),
        (
            ig({"root": {"routerType": "Sequence", "steps": [{"nodeName": "nope"}]}}),
            "spec.nodes.root.steps[0].nodeName",
            "no such node",
        ),
        (ig({"root": SPLIT}), "spec.nodes.root.steps", "must sum to 100"),
        (
            ig({"root": {"routerType": "Splitter", "steps": [{"serviceName": "a"}]}}),
            "spec.nodes.root.steps[0].weight",
            "Required value",
        ),
        (
            ig({"root": {"routerType": "Switch", "steps": [{"serviceName": "a"}]}}),
            "spec.nodes.root.steps[0].condition",
            "Required value",
        ),
        (
            ig(
                {
                    "root": {
                        "routerType": "Sequence",
                        "steps": [{"serviceName": "a", "data": "$body"}],
                    }
                }
            ),
            "spec.nodes.root.steps[0].data",
            "Unsupported value",
        ),
        (
            ig(
                {
                    "root": {
                        "routerType": "Sequence",
                        "steps": [{"serviceName": "a", "dependency": "Maybe"}],
                    }
                }
            ),
            "spec.nodes.root.steps[0].dependency",
            "Unsupported value",
        ),
        (
            ig({"root": {"routerType": "Sequence", "steps": [{"serviceUrl": "ftp://x"}]}}),
            "spec.nodes.root.steps[0].serviceUrl",
            "grpc://",
        ),
        (
            ig(
                {
                    "root": {"routerType": "Sequence", "steps": [{"nodeName": "n"}]},
                    "n": {"routerType": "Sequence", "steps": [{"nodeName": "root"}]},
                }
            ),
            "spec.nodes",
            "cycle",
        ),
        (
            ig({"root": {"routerType": "Sequence", "steps": []}}),
            "spec.nodes.root.steps",
            "at least one step",
        ),
        (
            {
                **ig({"root": {"routerType": "Sequence", "steps": [{"serviceName": "a"}]}}),
                "metadata": {"name": "1graph"},
            },
            "metadata.name",
            "start with a letter",
        ),
    ],
)
def test_what_kserves_webhook_refuses(obj: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(validation.ResourceInvalid) as caught:
        validation.validate(obj)
    causes = {c.field: c.message for c in caught.value.causes}
    assert any(f.startswith(field) and message in m for f, m in causes.items()), causes


def test_the_kind_is_served_as_kubectl_expects() -> None:
    kind = catalog.find("ig")
    assert kind is catalog.INFERENCE_GRAPH and catalog.find("inferencegraphs") is kind
    assert [c.name for c in kind.columns] == ["URL", "Ready", "Age"]
    document = schema.openapi_schema(kind)
    node = document["properties"]["spec"]["properties"]["nodes"]["additionalProperties"]
    assert node["properties"]["routerType"]["enum"] == [
        "Sequence",
        "Switch",
        "Ensemble",
        "Splitter",
    ]
