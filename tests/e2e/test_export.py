"""`modelplane export` as a user runs it, and the runtime it writes started as KServe starts it.

No Kubernetes cluster runs here, so the pod is played locally: the exported
ClusterServingRuntime's command and args, with `{{.Name}}` filled as KServe fills it, the model
directory KServe's storage initializer would fill mounted at `/mnt/models` (here: a trained iris
model's directory in its place), and the container's environment; only the ports become 0, so
the test takes free ones. The server it starts must answer V1 and V2 as it would in the pod.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.manifests import SEED
from tests.support.process import ROOT, ServeProcess, run_cli

EXAMPLES = ROOT / "examples"


def export(*args: str) -> tuple[list[dict[str, Any]], str]:
    result = run_cli("export", *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc], result.stderr


def test_export_writes_multi_document_yaml_for_kubectl_apply() -> None:
    objects, warnings = export(
        "-f", str(EXAMPLES / "sklearn-iris.yaml"), "-f", str(EXAMPLES / "kserve-seed.yaml")
    )
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ClusterServingRuntime", "modelplane-sklearn"),
        ("InferenceService", "sklearn-iris"),
        ("InferenceService", "sklearn-iris"),
    ]
    assert objects[0]["spec"]["containers"][0]["image"] == "modelplane:0.1.0"
    for service in objects[1:]:
        assert service["spec"]["predictor"]["model"]["runtime"] == "modelplane-sklearn"
    # The local example's model is on this disk; the seed's gs:// model is not named.
    assert warnings.count("Warning: ") == 1
    assert 'storageUri "file://examples/models/sklearn-iris" is on this machine' in warnings


def test_export_into_a_directory_writes_one_file_per_object_in_apply_order(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    result = run_cli(
        "export", "-f", str(EXAMPLES / "kserve-seed.yaml"), "-o", str(out),
        "--image", "registry.example.com/modelplane:1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "01-clusterservingruntime-modelplane-sklearn.yaml",
        "02-inferenceservice-sklearn-iris.yaml",
    ]
    assert result.stdout.split() == [str(out / name) for name in names]
    assert result.stderr == ""
    runtime = yaml.safe_load((out / names[0]).read_text())
    assert runtime["spec"]["containers"][0]["image"] == "registry.example.com/modelplane:1"


def test_export_without_input_or_with_a_bad_service_says_why(tmp_path: Path) -> None:
    nothing = run_cli("export")
    assert nothing.returncode == 2
    assert "give -f FILE (InferenceServices to export) or --all-runtimes" in nothing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(SEED.replace("      storageUri:", "      storageURI:"))
    refused = run_cli("export", "-f", str(broken))
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.strip() == (
        'error: InferenceService.serving.kserve.io "sklearn-iris" is invalid: '
        "spec.predictor.model.storageUri: Required value: the model server needs a storage URI "
        "to load the model from"
    )


def test_all_runtimes_alone_are_exported() -> None:
    objects, warnings = export("--all-runtimes")
    assert [o["metadata"]["name"] for o in objects] == [
        f"modelplane-{fmt}"
        for fmt in (
            "sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "huggingface", "tensorflow"
        )
    ]
    assert warnings == ""


def test_the_exported_runtime_serves_as_kserve_would_start_it(
    iris_dir: Path, tmp_path: Path
) -> None:
    objects, _ = export("-f", str(EXAMPLES / "kserve-seed.yaml"))
    runtime, service = objects
    (container,) = runtime["spec"]["containers"]
    name = service["metadata"]["name"]
    # What KServe does to the runtime's container: {{.Name}} is the service's name and the model
    # is at /mnt/models. The ports become free ones.
    ports = {"--http_port=8080": "--http_port=0", "--grpc_port=8081": "--grpc_port=0"}
    args = [
        ports.get(arg, arg.replace("{{.Name}}", name).replace("/mnt/models", str(iris_dir)))
        for arg in container["args"]
    ]
    assert args != container["args"] and set(ports) <= set(container["args"])
    env = {e["name"]: e["value"] for e in container["env"]}
    env["HOME"] = str(tmp_path)  # the pod's user has a home of its own
    program, command = container["command"]
    assert program == "modelplane"
    with ServeProcess(*args, env=env, command=command) as server:
        server.wait_ready()
        assert server.grpc_port is not None
        assert "serving REST on http://0.0.0.0:" in server.output  # the container's host
        v1 = httpx.post(
            f"{server.url}/v1/models/{name}:predict",
            json={"instances": [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]]},
        )
        assert v1.status_code == 200, v1.text
        assert v1.json() == {"predictions": [0, 2]}
        v2 = httpx.post(
            f"{server.url}/v2/models/{name}/infer",
            json={
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [2, 4],
                        "datatype": "FP32",
                        "data": [5.1, 3.5, 1.4, 0.2, 6.2, 3.4, 5.4, 2.3],
                    }
                ]
            },
        )
        assert v2.status_code == 200, v2.text
        body = v2.json()
        assert body["model_name"] == name
        assert body["outputs"][0]["data"] == [0, 2]
        assert server.terminate() == 0
