"""What each replica of a revision runs, from the InferenceService a user wrote."""

from __future__ import annotations

import sys

import pytest

from modelplane.controlplane import templates
from modelplane.controlplane.settings import UpSettings
from modelplane.resources import builtin
from tests.support.manifests import isvc

SERVE = ("/usr/bin/python3", "-m", "modelplane.cli", "serve")
RUNTIMES = templates.Runtimes(cluster=builtin.cluster_runtimes())


SKLEARN = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "file:///models/iris"}}


def test_a_model_format_runs_modelplane_serve_of_the_builtin_runtime() -> None:
    plan = templates.plan(isvc(SKLEARN), RUNTIMES, serve_argv=SERVE)
    assert plan.failure is None and plan.spec is not None
    argv = plan.spec["template"]["argv"]
    assert argv[:4] == list(SERVE)
    assert "--model-name=sklearn-iris" in argv
    assert "--storage-uri=file:///models/iris" in argv
    assert "--model-format=sklearn" in argv
    assert "--http-port={http_port}" in argv and "--grpc-port={grpc_port}" in argv
    assert plan.spec["template"]["readinessPath"] == "/v2/health/ready"
    assert plan.spec["runtime"] == "kserve-sklearnserver"


def test_a_format_given_another_python_runs_its_replicas_with_it() -> None:
    hf = {"model": {"modelFormat": {"name": "huggingface"}, "args": ["--model_id=org/llm"]}}
    pythons = {"huggingface": "/envs/vllm/bin/python"}

    llm = templates.plan(isvc(hf), RUNTIMES, serve_argv=SERVE, pythons=pythons).spec
    iris = templates.plan(isvc(SKLEARN), RUNTIMES, serve_argv=SERVE, pythons=pythons).spec

    assert llm is not None and iris is not None
    assert llm["template"]["argv"][:4] == ["/envs/vllm/bin/python", *SERVE[1:]]
    assert "--model_id=org/llm" in llm["template"]["argv"]
    assert iris["template"]["argv"][:4] == list(SERVE)


def test_runtime_python_is_format_equals_program() -> None:
    settings = UpSettings(runtime_python=f"huggingface={sys.executable}, onnx=python3")
    assert settings.pythons == {"huggingface": sys.executable, "onnx": "python3"}
    with pytest.raises(ValueError, match="FORMAT=PYTHON"):
        UpSettings(runtime_python="huggingface")
    with pytest.raises(ValueError, match="no such program"):
        UpSettings(runtime_python="huggingface=/no/such/python")


def test_the_legacy_framework_key_gives_the_same_process() -> None:
    legacy = {"sklearn": {"storageUri": "file:///models/iris"}}
    a = templates.plan(isvc(legacy), RUNTIMES, serve_argv=SERVE).spec
    b = templates.plan(isvc(SKLEARN), RUNTIMES, serve_argv=SERVE).spec
    assert a is not None and b is not None
    assert a["template"]["argv"] == b["template"]["argv"]


def test_args_env_batcher_and_scaling_reach_the_revision() -> None:
    predictor = {
        **SKLEARN,
        "minReplicas": 0,
        "maxReplicas": 3,
        "containerConcurrency": 4,
        "timeout": 30,
        "canaryTrafficPercent": 25,
        "batcher": {"maxBatchSize": 16, "maxLatency": 5},
    }
    predictor["model"] = {**SKLEARN["model"], "args": ["--workers=2"],
                          "env": [{"name": "A", "value": "1"}]}  # fmt: skip
    plan = templates.plan(isvc(predictor), RUNTIMES, serve_argv=SERVE)
    assert plan.spec is not None
    argv = plan.spec["template"]["argv"]
    assert "--workers=2" in argv
    assert "--max-batch-size=16" in argv and "--max-latency-ms=5" in argv
    assert plan.spec["template"]["env"] == {"A": "1"}
    assert plan.canary == 25 and plan.timeout == 30.0
    assert plan.spec["autoscaling"]["minScale"] == 0
    assert plan.spec["autoscaling"]["maxScale"] == 3
    assert plan.spec["autoscaling"]["target"] == 4 * 0.7
    assert plan.spec["containerConcurrency"] == 4


def test_canary_percent_is_not_part_of_the_revision() -> None:
    with_canary = {**SKLEARN, "canaryTrafficPercent": 10}
    a = templates.plan(isvc(with_canary), RUNTIMES, serve_argv=SERVE).spec
    b = templates.plan(isvc(SKLEARN), RUNTIMES, serve_argv=SERVE).spec
    assert a == b


def test_a_format_no_runtime_serves_is_reported_not_raised() -> None:
    plan = templates.plan(
        isvc({"model": {"modelFormat": {"name": "pmml"}, "storageUri": "s3://m/x"}}),
        RUNTIMES,
        serve_argv=SERVE,
    )
    assert plan.spec is None
    assert plan.failure is not None and plan.failure[0] == "NoSupportingRuntime"
    assert "pmml" in plan.failure[1]


def test_a_custom_container_runs_its_command_with_port_expansion() -> None:
    container = {
        "name": "kserve-container",
        "image": "registry/my-model:1",
        "command": ["python", "serve.py"],
        "args": ["--port=$(PORT)", "--name=$(NAME)"],
        "env": [{"name": "NAME", "value": "custom"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }
    plan = templates.plan(isvc({"containers": [container]}), RUNTIMES, serve_argv=SERVE)
    assert plan.spec is not None
    template = plan.spec["template"]
    assert template["argv"] == ["python", "serve.py", "--port={http_port}", "--name=custom"]
    assert template["readinessPath"] == "/ready" and template["grpc"] is False


def test_an_unknown_image_without_a_command_cannot_run_and_says_what_to_do() -> None:
    container = {"name": "kserve-container", "image": "registry.example/unknown-server:1"}
    plan = templates.plan(isvc({"containers": [container]}), RUNTIMES, serve_argv=SERVE)
    assert plan.spec is None and plan.failure is not None
    assert plan.failure[0] == "ContainerCannotRun" and "command" in plan.failure[1]
    assert "'registry.example/unknown-server:1'" in plan.failure[1]
    assert "kserve/sklearnserver" in plan.failure[1]  # the images it does know


def test_policy_reads_the_revision_and_the_settings_windows() -> None:
    plan = templates.plan(isvc({**SKLEARN, "minReplicas": 0}), RUNTIMES, serve_argv=SERVE)
    assert plan.spec is not None
    policy = templates.policy_of(
        {"spec": plan.spec}, UpSettings(stable_window=4, panic_window=1, scale_to_zero_grace=2)
    )
    assert (policy.min_replicas, policy.stable_window, policy.panic_window) == (0, 4, 1)
    assert policy.scale_to_zero_grace == 2 and policy.target == 100
