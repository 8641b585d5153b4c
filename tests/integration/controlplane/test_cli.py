"""`modelplane apply/get/describe/delete` against the real API server over HTTPS, as a user runs
them: KServe's seed YAML applied, listed, shown, deleted, and each failure one clear line."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from modelplane.cli import apiclient, main
from modelplane.controlplane import tls
from modelplane.resources import catalog, schema, validation
from tests.support.apiserver import ApiServer
from tests.support.manifests import SEED

RUNTIME = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: my-runtime
spec:
  supportedModelFormats: [{name: sklearn, version: "1", autoSelect: true}]
  containers: [{name: kserve-container, image: modelplane}]
"""


def admit(kind: catalog.Kind, obj: dict[str, Any], mode: str) -> tuple[dict[str, Any], list[str]]:
    """What `modelplane up` admits with: the resources room's validation and defaults."""
    if not kind.user_writable:
        return obj, []
    return validation.validate(obj, field_validation=mode)


def start(home: Path, **options: Any) -> ApiServer:
    return ApiServer(home, validate=admit, schema=schema.openapi_schema, **options).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    running = start(tmp_path / "home")
    try:
        yield running
    finally:
        running.stop()


def run(server: ApiServer, *args: str, input: str | None = None) -> Result:
    """The CLI in process, finding the kubeconfig through MODELPLANE_HOME as a shell would."""
    runner = CliRunner(env={"MODELPLANE_HOME": str(server.home)})
    return runner.invoke(main.cli, list(args), input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def failed(result: Result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    return result.stderr


def write(tmp_path: Path, text: str, name: str = "isvc.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def set_status(server: ApiServer, status: dict[str, Any], name: str = "sklearn-iris") -> None:
    """Write a status through the API's status subresource, as the reconciler's writes appear."""
    kind = catalog.INFERENCE_SERVICE
    config = apiclient.load_config(server.kubeconfig)
    with apiclient.Client(config) as client:
        obj = client.get(kind, "default", name)
        client.replace(kind, {**obj, "status": status}, sub="status")


def test_apply_creates_then_configures_then_leaves_unchanged(
    server: ApiServer, tmp_path: Path
) -> None:
    path = write(tmp_path, SEED)
    created = ok(run(server, "apply", "-f", path))
    assert created == "inferenceservice.serving.kserve.io/sklearn-iris created\n"
    assert ok(run(server, "apply", "-f", path)).endswith("sklearn-iris unchanged\n")
    write(tmp_path, SEED.replace("    model:", "    minReplicas: 2\n    model:"))
    assert ok(run(server, "apply", "-f", path)).endswith("sklearn-iris configured\n")
    assert ok(run(server, "apply", "-f", path)).endswith("sklearn-iris unchanged\n")
    # kubectl sees the same last-applied configuration, so it too finds nothing to change.
    assert "unchanged" in server.kubectl("apply", "-f", path).stdout
    write(tmp_path, SEED)  # minReplicas dropped from the file: back to KServe's default
    assert ok(run(server, "apply", "-f", path)).endswith("sklearn-iris configured\n")
    live = json.loads(ok(run(server, "get", "isvc", "sklearn-iris", "-o", "json")))
    assert live["spec"]["predictor"]["minReplicas"] == 1
    assert live["metadata"]["generation"] == 3


def test_apply_reads_directories_and_stdin_runtimes_first(
    server: ApiServer, tmp_path: Path
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder, SEED, "a-isvc.yaml")
    write(folder, RUNTIME, "b-runtime.yaml")
    assert ok(run(server, "apply", "-f", str(folder))).splitlines() == [
        "servingruntime.serving.kserve.io/my-runtime created",
        "inferenceservice.serving.kserve.io/sklearn-iris created",
    ]
    piped = ok(run(server, "apply", "-f", "-", "-n", "team", input=SEED))
    assert piped == "inferenceservice.serving.kserve.io/sklearn-iris created\n"


def test_get_prints_tables_and_documents(server: ApiServer, tmp_path: Path) -> None:
    ok(run(server, "apply", "-f", write(tmp_path, SEED)))
    ok(run(server, "apply", "-n", "team", "-f", write(tmp_path, SEED.replace("sklearn-iris", "b"))))
    set_status(server, {
        "url": "http://sklearn-iris.default.example.com",
        "conditions": [{"type": "Ready", "status": "True"}],
        "components": {"predictor": {
            "latestReadyRevision": "sklearn-iris-predictor-00001",
            "traffic": [{"revisionName": "sklearn-iris-predictor-00001", "percent": 100,
                         "latestRevision": True}]}},
    })  # fmt: skip
    header, row = ok(run(server, "get", "isvc")).splitlines()
    assert header.split() == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert row.split()[:4] == ["sklearn-iris", "http://sklearn-iris.default.example.com",
                               "True", "100"]  # fmt: skip
    assert row.split()[4].endswith("s")
    wide = ok(run(server, "get", "inferenceservices", "-o", "wide")).splitlines()
    assert "LATESTREADYREVISION" in wide[0].split()
    assert "sklearn-iris-predictor-00001" in wide[1].split()
    everywhere = ok(run(server, "get", "isvc", "-A")).splitlines()
    assert [line.split()[:2] for line in everywhere] == [
        ["NAMESPACE", "NAME"], ["default", "sklearn-iris"], ["team", "b"],
    ]  # fmt: skip
    as_yaml = yaml.safe_load(ok(run(server, "get", "isvc", "sklearn-iris", "-o", "yaml")))
    assert as_yaml["kind"] == "InferenceService"
    assert as_yaml["status"]["conditions"][0]["status"] == "True"
    as_json = json.loads(ok(run(server, "get", "isvc", "-A", "-o", "json")))
    assert as_json["kind"] == "List"
    assert [i["metadata"]["name"] for i in as_json["items"]] == ["sklearn-iris", "b"]
    assert ok(run(server, "get", "isvc/b", "-n", "team", "-o", "name")) == (
        "inferenceservice.serving.kserve.io/b\n"
    )
    ok(run(server, "apply", "-f", write(tmp_path, RUNTIME, "runtime.yaml")))
    runtimes = ok(run(server, "get", "servingruntimes")).splitlines()
    assert runtimes[0].split() == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    assert runtimes[1].split()[:3] == ["my-runtime", "sklearn", "kserve-container"]
    empty = run(server, "get", "revisions")
    assert ok(empty) == "" and empty.stderr == "No resources found in default namespace.\n"


def test_describe_shows_spec_conditions_and_revisions(server: ApiServer, tmp_path: Path) -> None:
    ok(run(server, "apply", "-f", write(tmp_path, SEED)))
    set_status(server, {"conditions": [
        {"type": "Ready", "status": "False", "reason": "RevisionMissing",
         "message": "Configuration is waiting for a Revision to become ready."}]})  # fmt: skip
    text = ok(run(server, "describe", "inferenceservice/sklearn-iris"))
    lines = text.splitlines()
    assert lines[:2] == ["Name:         sklearn-iris", "Namespace:    default"]
    assert "Annotations:  <none>" in lines  # last-applied-configuration is not shown
    assert re.search(
        r"\n      Storage URI: +gs://kfserving-examples/models/sklearn/1.0/model\n", text
    )
    conditions = lines.index("  Conditions:")
    assert lines[conditions + 2].split()[:3] == ["Ready", "False", "RevisionMissing"]
    assert "Configuration is waiting for a Revision to become ready." in lines[conditions + 2]
    assert "Revisions:  <none>" in lines


def test_delete_by_name_and_by_file(server: ApiServer, tmp_path: Path) -> None:
    path = write(tmp_path, RUNTIME + "---\n" + SEED)
    ok(run(server, "apply", "-f", path))
    assert ok(run(server, "delete", "isvc/sklearn-iris")) == (
        'inferenceservice.serving.kserve.io "sklearn-iris" deleted\n'
    )
    gone = failed(run(server, "get", "isvc", "sklearn-iris"))
    assert gone == (
        'Error from server (NotFound): inferenceservices.serving.kserve.io "sklearn-iris" '
        "not found\n"
    )
    ok(run(server, "apply", "-f", path))
    assert ok(run(server, "delete", "-f", path)).splitlines() == [
        'inferenceservice.serving.kserve.io "sklearn-iris" deleted',
        'servingruntime.serving.kserve.io "my-runtime" deleted',
    ]
    again = run(server, "delete", "-f", path)
    assert "(NotFound)" in failed(again)
    assert ok(run(server, "delete", "-f", path, "--ignore-not-found")) == ""


def test_failures_are_one_clear_message(server: ApiServer, tmp_path: Path) -> None:
    bad_yaml = failed(run(server, "apply", "-f", write(tmp_path, "kind: [\n", "broken.yaml")))
    assert "broken.yaml" in bad_yaml and "not valid YAML" in bad_yaml
    assert "no such file" in failed(run(server, "apply", "-f", str(tmp_path / "absent.yaml")))
    invalid = SEED.replace("    model:", "    minReplicas: -1\n    maxReplicas: -2\n    model:")
    refused = failed(run(server, "apply", "-f", write(tmp_path, invalid, "invalid.yaml")))
    lines = refused.splitlines()
    assert lines[0] == 'The InferenceService "sklearn-iris" is invalid:'
    assert any(line.startswith("* spec.predictor.minReplicas: ") for line in lines[1:])
    unknown = failed(run(server, "apply", "-f", write(tmp_path, SEED + "extra: 1\n", "x.yaml")))
    assert 'unknown field "extra"' in unknown
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
    mapping = failed(run(server, "apply", "-f", write(tmp_path, deployment, "d.yaml")))
    assert 'no matches for kind "Deployment" in version "apps/v1"' in mapping
    assert failed(run(server, "get", "deployments")) == (
        'error: the server doesn\'t have a resource type "deployments"\n'
    )
    assert "Error from server (NotFound)" in failed(run(server, "describe", "isvc", "nope"))
    revision = SEED.replace("serving.kserve.io/v1beta1", "serving.knative.dev/v1").replace(
        "InferenceService", "Revision"
    )
    assert "Error from server" in failed(run(server, "apply", "-f", write(tmp_path, revision)))


def test_a_stopped_control_plane_is_named_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this block ends
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stopped = start(tmp_path / "home")
    stopped.stop()
    config = yaml.safe_load(stopped.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    stopped.kubeconfig.write_text(yaml.safe_dump(config))
    message = failed(run(stopped, "get", "isvc"))
    assert message == (
        f"error: cannot reach the control plane at https://127.0.0.1:{port} (connection "
        "refused): is it running? Start it with `modelplane up`\n"
    )
    absent = CliRunner().invoke(main.cli, ["get", "isvc", "--kubeconfig", str(tmp_path / "no")])
    assert "no kubeconfig at" in failed(absent)


def test_a_certificate_the_kubeconfig_does_not_trust_is_named(
    server: ApiServer, tmp_path: Path
) -> None:
    """Not "is it running?": it answered, with a certificate of another CA (another home's)."""
    config = yaml.safe_load(server.kubeconfig.read_text())
    foreign = tls.ensure(tmp_path / "elsewhere").ca_pem
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        foreign
    ).decode()
    server.kubeconfig.write_text(yaml.safe_dump(config))
    message = failed(run(server, "get", "isvc"))
    assert message.startswith(
        f"error: the control plane at {server.url} presented a certificate the kubeconfig's "
        "CA does not accept ("
    )
    assert message.endswith(
        "): restart `modelplane up` to write a matching kubeconfig, or pass --kubeconfig\n"
    )
    assert message.count("\n") == 1


def test_the_cli_as_a_process_finds_the_control_plane_through_modelplane_home(
    server: ApiServer, tmp_path: Path
) -> None:
    ok(run(server, "apply", "-f", write(tmp_path, SEED)))
    env = {**os.environ, "MODELPLANE_HOME": str(server.home)}
    done = subprocess.run(
        [sys.executable, "-m", "modelplane.cli", "get", "isvc"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert row.split()[0] == "sklearn-iris"
    missing = subprocess.run(
        [sys.executable, "-m", "modelplane.cli", "get", "isvc", "nope"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("Error from server (NotFound)")
