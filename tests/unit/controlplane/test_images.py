"""KServe's image-only runtimes mapped to the local command doing the same job."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.controlplane import images, templates
from modelplane.resources import builtin
from tests.support.manifests import isvc

SERVE = ("/usr/bin/python3", "-m", "modelplane.cli", "serve")
CLI = list(SERVE[:-1])
RUNTIMES = templates.Runtimes(cluster=builtin.cluster_runtimes())
CTX = images.Context("iris", "s3://models/iris")
# KServe's kserve-tritonserver container, as its ClusterServingRuntime writes it.
TRITON_ARGS = ["tritonserver", "--model-store=/mnt/models", "--grpc-port=9000",
               "--http-port=8080", "--allow-grpc=true", "--allow-http=true"]  # fmt: skip


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("kserve/sklearnserver:v0.14", "kserve/sklearnserver"),
        ("docker.io/kserve/sklearnserver@sha256:abc", "kserve/sklearnserver"),
        ("index.docker.io/library/python:3.11", "python"),
        ("nvcr.io/nvidia/tritonserver:23.05-py3", "nvcr.io/nvidia/tritonserver"),
        ("localhost:5000/kserve/xgbserver", "localhost:5000/kserve/xgbserver"),
    ],
)
def test_repository_drops_tag_digest_and_docker_hub_prefixes(image: str, repository: str) -> None:
    assert images.repository(image) == repository


def test_triton_takes_kserves_args_with_the_storage_uri_and_the_replicas_ports() -> None:
    argv = images.local_command("nvcr.io/nvidia/tritonserver:23.05-py3", [], TRITON_ARGS, CTX)
    assert argv == [
        "tritonserver", "--model-repository=s3://models/iris", "--allow-grpc=true",
        "--allow-http=true", "--http-port={http_port}", "--grpc-port={grpc_port}",
    ]  # fmt: skip
    # The program named as the command, a path under the mount, a separate value: the same.
    named = images.local_command(
        "nvcr.io/nvidia/tritonserver:24.01-py3",
        ["/opt/tritonserver/bin/tritonserver"],
        ["--model-repository", "/mnt/models/triton"],
        CTX,
    )
    assert named is not None and named[1] == "--model-repository=s3://models/iris/triton"


def test_kserves_model_servers_run_modelplane_serve_with_their_flags_renamed() -> None:
    args = ["--model_name=iris", "--model_dir=/mnt/models", "--http_port=8080", "--workers=2"]
    argv = images.local_command("kserve/sklearnserver:v0.14", [], args, CTX)
    assert argv == [
        "serve", "--model-format=sklearn", "--model-name=iris", "--storage-uri=s3://models/iris",
        "--workers=2", "--http-port={http_port}", "--grpc-port={grpc_port}",
    ]  # fmt: skip
    hf = images.local_command("kserve/huggingfaceserver:v0.14", [], ["--model_name=iris"], CTX)
    assert hf is not None and hf[:2] == ["serve", "--model-format=huggingface"]
    assert "--storage-uri=s3://models/iris" in hf  # no --model_dir: the predictor's storageUri


def test_tf_serving_with_its_program_as_command_runs_the_tensorflow_runtime() -> None:
    args = ["--model_name=iris", "--port=9000", "--rest_api_port=8080",
            "--model_base_path=/mnt/models", "--rest_api_timeout_in_ms=60000"]  # fmt: skip
    argv = images.local_command(
        "tensorflow/serving:2.6.2", ["/usr/bin/tensorflow_model_server"], args, CTX
    )
    assert argv == [
        "serve", "--model-format=tensorflow", "--model-name=iris",
        "--storage-uri=s3://models/iris", "--http-port={http_port}", "--grpc-port={grpc_port}",
    ]  # fmt: skip


def test_vllm_openai_serves_a_hub_id_or_the_mount_as_huggingface() -> None:
    hub = images.local_command(
        "vllm/vllm-openai:latest", [], ["--model", "facebook/opt-125m", "--port", "8080"], CTX
    )
    assert hub == [
        "serve", "--model-format=huggingface", "--backend=vllm",
        "--storage-uri=hf://facebook/opt-125m",
        "--model-name=iris", "--http-port={http_port}", "--grpc-port={grpc_port}",
    ]  # fmt: skip
    mounted = images.local_command(
        "vllm/vllm-openai", [], ["--model=/mnt/models", "--served-model-name=opt"], CTX
    )
    assert mounted is not None
    assert "--storage-uri=s3://models/iris" in mounted and "--model-name=opt" in mounted


def test_an_unknown_image_or_a_users_own_command_is_not_mapped() -> None:
    assert images.local_command("registry.example/server:1", [], ["--x"], CTX) is None
    assert images.local_command("kserve/sklearnserver", ["python", "my.py"], [], CTX) is None


def _runtime(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "custom", "namespace": "default"},
        "spec": {
            "supportedModelFormats": [{"name": "sklearn", "version": "1"}],
            "containers": [container],
        },
    }


def test_a_servingruntime_of_an_image_only_becomes_a_modelplane_replica() -> None:
    container = {
        "name": "kserve-container",
        "image": "kserve/sklearnserver:v0.14",
        "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
    }
    predictor = {
        "model": {
            "modelFormat": {"name": "sklearn"},
            "runtime": "custom",
            "storageUri": "file:///models/iris",
        },
        "batcher": {"maxBatchSize": 8},
    }
    runtimes = templates.Runtimes(namespaced=[_runtime(container)])
    plan = templates.plan(isvc(predictor), runtimes, serve_argv=SERVE)
    assert plan.failure is None and plan.spec is not None
    template = plan.spec["template"]
    assert template["argv"][: len(CLI) + 2] == [*CLI, "serve", "--model-format=sklearn"]
    assert "--storage-uri=file:///models/iris" in template["argv"]
    assert "--model-name=sklearn-iris" in template["argv"]
    assert "--max-batch-size=8" in template["argv"]
    assert template["grpc"] is True and template["readinessPath"] == "/v2/health/ready"


def test_the_builtin_triton_runtime_serves_format_triton_without_modelplanes_batcher() -> None:
    predictor = {
        "model": {
            "modelFormat": {"name": "triton"},
            "protocolVersion": "v2",
            "storageUri": "s3://models/repo",
        },
        "batcher": {"maxBatchSize": 8},
    }
    plan = templates.plan(isvc(predictor, "add-sub"), RUNTIMES, serve_argv=SERVE)
    assert plan.failure is None and plan.spec is not None
    assert plan.spec["runtime"] == builtin.TRITON_RUNTIME
    argv = plan.spec["template"]["argv"]
    assert argv[: len(CLI) + 2] == [*CLI, "tritonserver", "--model-repository=s3://models/repo"]
    assert "--http-port={http_port}" in argv and "--grpc-port={grpc_port}" in argv
    assert not any(a.startswith("--max-batch-size") for a in argv)  # config.pbtxt batches
    assert plan.spec["template"]["readinessPath"] == "/v2/health/ready"
    # The legacy `triton:` key speaks V2 by default, as KServe's does.
    legacy = templates.plan(
        isvc({"triton": {"storageUri": "s3://models/repo"}}), RUNTIMES, serve_argv=SERVE
    )
    assert legacy.spec is not None and legacy.spec["runtime"] == builtin.TRITON_RUNTIME
    # Without a protocol, V1, which Triton does not speak: KServe's answer, said plainly.
    v1 = templates.plan(
        isvc({"model": {"modelFormat": {"name": "triton"}, "storageUri": "s3://m"}}),
        RUNTIMES,
        serve_argv=SERVE,
    )
    assert v1.failure is not None and v1.failure[0] == "NoSupportingRuntime"
