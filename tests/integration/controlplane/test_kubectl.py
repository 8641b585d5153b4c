"""kubectl v1.37 against the API server: apply, get, describe, patch, delete, wait, watch."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from modelplane.controlplane import errors
from modelplane.resources import catalog
from tests.support.apiserver import ApiServer
from tests.support.manifests import SEED

ISVC = catalog.INFERENCE_SERVICE


def manifest(tmp_path: Path, text: str = SEED, name: str = "isvc.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def set_ready(server: ApiServer, name: str = "sklearn-iris") -> None:
    def write(db: Any) -> None:
        obj = db.get(ISVC, "default", name)
        obj["status"] = {"url": f"http://{name}.default.example.com",
                         "conditions": [{"type": "Ready", "status": "True"}]}
        db.replace_status(ISVC, obj)
    server.call(write)


def test_discovery_commands(api_server: ApiServer) -> None:
    resources = api_server.kubectl("api-resources").stdout
    assert "inferenceservices" in resources and "isvc" in resources
    assert "clusterservingruntimes" in resources and "revisions" in resources
    versions = api_server.kubectl("api-versions").stdout.split()
    assert {"serving.kserve.io/v1beta1", "serving.kserve.io/v1alpha1", "v1"} <= set(versions)


def test_apply_creates_updates_and_refuses_invalid(api_server: ApiServer, tmp_path: Path) -> None:
    path = manifest(tmp_path)
    assert "sklearn-iris created" in api_server.kubectl("apply", "-f", path).stdout
    assert "sklearn-iris unchanged" in api_server.kubectl("apply", "-f", path).stdout
    manifest(tmp_path, SEED.replace("    model:", "    minReplicas: 2\n    model:"))
    assert "sklearn-iris configured" in api_server.kubectl("apply", "-f", path).stdout
    got = api_server.kubectl("get", "isvc", "sklearn-iris", "-o", "json").stdout
    obj = json.loads(got)
    assert obj["spec"]["predictor"]["minReplicas"] == 2
    assert obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    bad = manifest(tmp_path, SEED.replace("gs://kfserving-examples/models/sklearn/1.0/model",
                                          '" "'), "bad.yaml")
    result = api_server.kubectl("apply", "-f", bad, check=False)
    assert result.returncode != 0
    assert "spec.predictor.model.storageUri" in result.stderr
    unknown = manifest(tmp_path, SEED + "extra: 1\n", "unknown.yaml")
    result = api_server.kubectl("apply", "-f", unknown, check=False)
    assert result.returncode != 0 and "extra" in result.stderr


def test_get_formats(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.kubectl("apply", "-f", manifest(tmp_path))
    other = SEED.replace("name: sklearn-iris", "name: other\n  namespace: team")
    api_server.kubectl("apply", "-f", manifest(tmp_path, other, "other.yaml"))
    set_ready(api_server)
    table = api_server.kubectl("get", "isvc").stdout.splitlines()
    assert table[0].split() == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert table[1].split()[:3] == [
        "sklearn-iris", "http://sklearn-iris.default.example.com", "True"]
    assert len(table) == 2
    wide = api_server.kubectl("get", "inferenceservices", "-o", "wide").stdout.splitlines()
    assert "LATESTREADYREVISION" in wide[0]
    every = api_server.kubectl("get", "isvc", "-A").stdout.splitlines()
    assert every[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:2] for line in every[1:]] == [
        ["default", "sklearn-iris"], ["team", "other"]]
    one = yaml.safe_load(api_server.kubectl("get", "isvc", "sklearn-iris", "-o", "yaml").stdout)
    assert one["kind"] == "InferenceService" and one["status"]["conditions"][0]["status"] == "True"
    listed = json.loads(api_server.kubectl("get", "isvc", "-n", "team", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["other"]
    missing = api_server.kubectl("get", "isvc", "nope", check=False)
    assert missing.returncode == 1
    assert 'inferenceservices.serving.kserve.io "nope" not found' in missing.stderr
    namespaces = api_server.kubectl("get", "namespaces").stdout
    assert "default" in namespaces and "team" in namespaces


def test_describe(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.kubectl("apply", "-f", manifest(tmp_path))
    text = api_server.kubectl("describe", "isvc", "sklearn-iris").stdout
    assert "Name:         sklearn-iris" in text
    assert "Storage Uri:" in text and "Events:" in text


def test_patch_merge_and_json(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.kubectl("apply", "-f", manifest(tmp_path))
    api_server.kubectl("patch", "isvc", "sklearn-iris", "--type=merge",
                       "-p", '{"spec":{"predictor":{"minReplicas":3}}}')
    api_server.kubectl("patch", "isvc", "sklearn-iris", "--type=json", "-p",
                       '[{"op":"add","path":"/spec/predictor/maxReplicas","value":5}]')
    spec = json.loads(api_server.kubectl("get", "isvc", "sklearn-iris", "-o",
                                         "jsonpath={.spec.predictor}").stdout)
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 5)
    strategic = api_server.kubectl("patch", "isvc", "sklearn-iris", "-p", "{}", check=False)
    assert strategic.returncode != 0 and "strategic-merge-patch" in strategic.stderr


def test_server_side_apply_owns_and_removes_fields(api_server: ApiServer, tmp_path: Path) -> None:
    with_canary = SEED.replace("    model:", "    canaryTrafficPercent: 10\n    model:")
    path = manifest(tmp_path, with_canary)
    assert "serverside-applied" in api_server.kubectl("apply", "--server-side", "-f", path).stdout
    obj = json.loads(api_server.kubectl("get", "isvc", "sklearn-iris", "-o", "json",
                                        "--show-managed-fields").stdout)
    assert obj["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert obj["metadata"]["managedFields"][0]["manager"] == "kubectl"
    manifest(tmp_path)
    api_server.kubectl("apply", "--server-side", "-f", path)
    obj = json.loads(api_server.kubectl("get", "isvc", "sklearn-iris", "-o", "json").stdout)
    assert "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert obj["metadata"]["generation"] == 2
    api_server.kubectl("apply", "--server-side", "--field-manager=other", "-f",
                       manifest(tmp_path, with_canary.replace("10", "20"), "b.yaml"))
    clash = api_server.kubectl("apply", "--server-side", "-f",
                               manifest(tmp_path, with_canary, "c.yaml"), check=False)
    assert clash.returncode != 0 and "conflict" in clash.stderr.lower()
    forced = api_server.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                                str(tmp_path / "c.yaml"))
    assert "serverside-applied" in forced.stdout
    percent = api_server.kubectl("get", "isvc", "sklearn-iris", "-o",
                                 "jsonpath={.spec.predictor.canaryTrafficPercent}").stdout
    assert percent == "10"


def test_delete_waits_for_the_object_to_go(api_server: ApiServer, tmp_path: Path) -> None:
    path = manifest(tmp_path)
    api_server.kubectl("apply", "-f", path)
    out = api_server.kubectl("delete", "isvc", "sklearn-iris", timeout=30).stdout
    assert 'inferenceservice.serving.kserve.io "sklearn-iris" deleted' in out
    assert api_server.kubectl("get", "isvc", "-o", "name").stdout.strip() == ""
    api_server.kubectl("apply", "-f", path)
    assert "deleted" in api_server.kubectl("delete", "-f", path).stdout


def test_wait_for_condition_ready(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.kubectl("apply", "-f", manifest(tmp_path))
    waiter = api_server.kubectl_popen("wait", "--for=condition=Ready", "isvc/sklearn-iris",
                                      "--timeout=60s")
    until(lambda: api_server.call(lambda db: db.watchers) == 1)  # kubectl is watching
    assert waiter.poll() is None
    set_ready(api_server)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert "condition met" in out


def test_get_watch_prints_changes(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.kubectl("apply", "-f", manifest(tmp_path))
    watcher = api_server.kubectl_popen("get", "isvc", "-w")
    lines: queue.Queue[str] = queue.Queue()
    assert watcher.stdout is not None
    stdout = watcher.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        assert lines.get(timeout=20).split()[0] == "NAME"
        assert lines.get(timeout=20).split()[0] == "sklearn-iris"
        until(lambda: api_server.call(lambda db: db.watchers) == 1)
        set_ready(api_server)
        assert "True" in lines.get(timeout=20).split()
    finally:
        watcher.kill()
        watcher.wait()


class FakePods:
    """Two replicas as Pods, with a log that a follower sees grow."""

    def list_pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return [self._pod(f"sklearn-iris-predictor-00001-{i}") for i in (1, 2)
                if namespace in (None, "default")]

    def _pod(self, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default",
                             "creationTimestamp": "2025-01-01T00:00:00Z"},
                "spec": {"containers": [{"name": "kserve-container", "image": "modelplane"}]},
                "status": {"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [
                    {"name": "kserve-container", "ready": True, "restartCount": 1,
                     "state": {"running": {}}}]}}

    def read_log(self, namespace: str, name: str, *, container: str | None, follow: bool,
                 tail_lines: int | None) -> AsyncIterator[bytes]:
        if name not in {p["metadata"]["name"] for p in self.list_pods(namespace)}:
            raise errors.NotFound(f'pods "{name}" not found')

        async def lines() -> AsyncIterator[bytes]:
            yield b"loading model\n"
            yield b"model ready\n"
            if follow:
                yield b"followed line\n"
        return lines()


def test_pods_and_logs(tmp_path: Path) -> None:
    server = ApiServer(tmp_path / "home", pods=FakePods()).start()
    try:
        pods = server.kubectl("get", "pods").stdout.splitlines()
        assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert pods[1].split()[:4] == ["sklearn-iris-predictor-00001-1", "1/1", "Running", "1"]
        log = server.kubectl("logs", "sklearn-iris-predictor-00001-1").stdout
        assert log == "loading model\nmodel ready\n"
        followed = server.kubectl("logs", "-f", "sklearn-iris-predictor-00001-2").stdout
        assert followed.endswith("followed line\n")
        missing = server.kubectl("logs", "nope", check=False)
        assert missing.returncode != 0 and "not found" in missing.stderr
    finally:
        server.stop()


def test_kubectl_is_refused_without_the_token(api_server: ApiServer) -> None:
    config = yaml.safe_load(api_server.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "wrong"
    api_server.kubeconfig.write_text(yaml.safe_dump(config))
    result = api_server.kubectl("get", "isvc", check=False)
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr


