"""How the control plane points a graph's serviceName steps at its services."""

from __future__ import annotations

from typing import Any

from modelplane.controlplane import graphs


def isvc(name: str, protocol: str | None) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m"}
    if protocol:
        model["protocolVersion"] = protocol
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"predictor": {"model": model}},
    }


SPEC = {
    "nodes": {
        "root": {
            "routerType": "Sequence",
            "steps": [
                {"serviceName": "one"},
                {"serviceName": "two"},
                {"serviceName": "three"},
                {"serviceName": "gone"},
                {"serviceName": "one", "serviceUrl": "http://kept/x"},
            ],
        }
    }
}
SERVICES = {"one": isvc("one", None), "two": isvc("two", "v2"), "three": isvc("three", "grpc-v2")}


def urls(spec: dict[str, Any]) -> list[str]:
    return [s["serviceUrl"] for s in spec["nodes"]["root"]["steps"]]


def test_each_service_by_its_protocol_and_a_missing_one_named() -> None:
    resolved, missing = graphs.resolve(SPEC, "ns", "example.com", SERVICES, grpc=True)
    assert urls(resolved) == [
        "http://one.ns.example.com/v1/models/one:predict",
        "http://two.ns.example.com/v2/models/two/infer",
        "grpc://three.ns.example.com/three",
        "http://gone.ns.example.com/v1/models/gone:predict",
        "http://kept/x",  # a serviceUrl given is kept, as KServe's controller keeps it
    ]
    assert missing == ["gone"]
    assert "serviceUrl" not in SPEC["nodes"]["root"]["steps"][0]  # the input is left alone


def test_without_a_grpc_gateway_a_grpc_service_is_called_over_rest() -> None:
    resolved, _ = graphs.resolve(SPEC, "ns", "example.com", SERVICES, grpc=False)
    assert urls(resolved)[2] == "http://three.ns.example.com/v2/models/three/infer"
