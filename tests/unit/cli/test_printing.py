"""What `modelplane get` and `describe` print: JSONPath cells, kubectl's ages, tables, outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from modelplane.cli import printing
from modelplane.resources import catalog, printer

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def _isvc(name: str, *, created: datetime = NOW, ready: str | None = None) -> dict:
    obj: dict = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "labels": {"team": "ml"},
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s"}}},
    }
    if ready is not None:
        obj["status"] = {
            "url": f"http://{name}.default.example.com",
            "conditions": [
                {"type": "PredictorReady", "status": "True"},
                {"type": "Ready", "status": ready, "reason": "Reconciled"},
            ],
            "components": {
                "predictor": {
                    "latestReadyRevision": f"{name}-predictor-00002",
                    "previousRolledoutRevision": f"{name}-predictor-00001",
                    "traffic": [
                        {"revisionName": f"{name}-predictor-00002", "latestRevision": True,
                         "percent": 90},
                        {"revisionName": f"{name}-predictor-00001", "latestRevision": False,
                         "tag": "prev", "percent": 10},
                    ],
                }
            },
        }  # fmt: skip
    return obj


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.url", ["http://iris.default.example.com"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Ready')].reason", ["Reconciled"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["PredictorReady"]),
        (".status.components.predictor.traffic[?(@.latestRevision==true)].percent", [90]),
        ('.status.components.predictor.traffic[?(@.tag=="prev")].percent', [10]),
        (".status.components.predictor.traffic[?(@.tag)].tag", ["prev"]),
        (".status.components.predictor.traffic[*].percent", [90, 10]),
        (".status.components.predictor.traffic[1].revisionName", ["iris-predictor-00001"]),
        (".status.components.predictor.traffic[-1].percent", [10]),
        (".metadata.labels['team']", ["ml"]),
        ('{.metadata.labels["team"]}', ["ml"]),
        ("$.metadata.name", ["iris"]),
        (".status.missing.deeper", []),
        (".status.conditions[7].type", []),
        ('.spec.predictor[?(@.x=="y")].z', []),
    ],
)
def test_jsonpath_selects_what_kubernetes_printer_columns_select(path: str, expected: list) -> None:
    assert printer.jsonpath(_isvc("iris", ready="True"), path) == expected


def test_jsonpath_reads_label_keys_with_slashes_and_dots() -> None:
    obj = {"metadata": {"labels": {catalog.ISVC_LABEL: "iris"}}}
    assert printer.jsonpath(obj, catalog.REVISION.columns[0].json_path) == ["iris"]


@pytest.mark.parametrize("path", [".a..b", ".a[?(x)]", "a b", ".a[", ".a[?(@.k=~1)]"])
def test_jsonpath_outside_the_subset_is_refused(path: str) -> None:
    with pytest.raises(printer.JsonPathError, match="unsupported JSONPath"):
        printer.jsonpath({"a": {"b": 1}}, path)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
        (190, "3m10s"), (600, "10m"), (179 * 60 + 59, "179m"), (3 * 3600, "3h"),
        (2 * 3600 + 60 * 200, "5h20m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
        (48 * 3600, "2d"), (4 * 86400 + 3 * 3600, "4d3h"), (8 * 86400, "8d"),
        (400 * 86400, "400d"), (2 * 365 * 86400 + 10 * 86400, "2y10d"),
        (3 * 365 * 86400, "3y"), (9 * 365 * 86400, "9y"),
    ],
)  # fmt: skip
def test_human_duration_rounds_as_kubectl_does(seconds: int, shown: str) -> None:
    assert printer.human_duration(seconds) == shown


def test_age_reads_rfc3339_timestamps() -> None:
    assert printer.age("2026-05-01T11:55:00Z", NOW) == "5m"
    assert printer.age("2026-05-01T08:00:00+00:00", NOW) == "4h"
    assert printer.age("2026-04-27T12:00:00", NOW) == "4d"
    assert printer.age(None, NOW) == "<unknown>"
    assert printer.age("yesterday", NOW) == "<unknown>"


def test_inference_service_table_has_kserves_columns_aligned_like_kubectl() -> None:
    items = [
        _isvc("sklearn-iris", created=NOW - timedelta(seconds=5), ready="True"),
        _isvc("xgb", created=NOW - timedelta(hours=4)),
    ]
    lines = printing.table(catalog.INFERENCE_SERVICE, items, NOW).splitlines()
    assert lines[0].split() == ["NAME", "URL", "READY", "PREV", "LATEST", "AGE"]
    assert lines[1].split() == [
        "sklearn-iris", "http://sklearn-iris.default.example.com", "True", "10", "90", "5s",
    ]  # fmt: skip
    assert lines[2].split() == ["xgb", "4h"]
    # Columns start where their header starts, three spaces after the widest cell before them.
    assert lines[0].index("URL") == len("sklearn-iris") + 3
    assert lines[2].index("4h") == lines[0].index("AGE")


def test_wide_adds_the_priority_one_columns_and_all_namespaces_a_namespace_column() -> None:
    items = [_isvc("iris", created=NOW - timedelta(days=4), ready="True")]
    wide = printing.table(catalog.INFERENCE_SERVICE, items, NOW, wide=True, all_namespaces=True)
    header, line = wide.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "URL", "READY", "PREV", "LATEST",
        "PREVROLLEDOUTREVISION", "LATESTREADYREVISION", "AGE",
    ]  # fmt: skip
    assert line.split()[0:2] == ["default", "iris"]
    assert line.split()[-3:] == ["iris-predictor-00001", "iris-predictor-00002", "4d"]


def test_cluster_scoped_kinds_have_no_namespace_column_and_lists_join_with_commas() -> None:
    runtime = {
        "metadata": {"name": "kserve-sklearnserver", "creationTimestamp": "2026-05-01T11:59:00Z"},
        "spec": {"disabled": False, "supportedModelFormats": [{"name": "sklearn"},
                 {"name": "xgboost"}], "containers": [{"name": "kserve-container"}]},
    }  # fmt: skip
    header, line = printing.table(
        catalog.CLUSTER_SERVING_RUNTIME, [runtime], NOW, all_namespaces=True
    ).splitlines()
    assert header.split() == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    assert line.split() == ["kserve-sklearnserver", "false", "sklearn,xgboost",
                            "kserve-container", "60s"]  # fmt: skip


def test_output_name_json_and_yaml_are_kubectls() -> None:
    items = [_isvc("a"), _isvc("b")]
    assert printing.names(catalog.INFERENCE_SERVICE, items) == (
        "inferenceservice.serving.kserve.io/a\ninferenceservice.serving.kserve.io/b"
    )
    listed = printing.as_list(items)
    as_json = printing.dump(listed, "json")
    assert json.loads(as_json) == listed
    assert as_json.startswith('{\n    "apiVersion": "v1",\n    "items": [')
    assert yaml.safe_load(printing.dump(items[0], "yaml")) == items[0]
    assert printing.dump(items[0], "yaml").startswith("apiVersion: serving.kserve.io/v1beta1\n")


def test_describe_shows_identity_spec_conditions_traffic_and_revisions() -> None:
    obj = _isvc("iris", ready="True")
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    revision = {
        "metadata": {"name": "iris-predictor-00002", "creationTimestamp": "2026-05-01T11:00:00Z",
                     "labels": {catalog.ISVC_LABEL: "iris"}},
        "status": {"actualReplicas": 1, "desiredReplicas": 1, "restarts": 0,
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip
    text = printing.describe(catalog.INFERENCE_SERVICE, obj, NOW, [revision])
    lines = text.splitlines()
    assert lines[:4] == [
        "Name:         iris",
        "Namespace:    default",
        "Labels:       team=ml",
        "Annotations:  <none>",
    ]
    assert "Kind:         InferenceService" in lines
    assert "      Storage URI:  s" in lines
    assert "        Name:  sklearn" in lines
    assert "  URL:  http://iris.default.example.com" in lines
    conditions = lines.index("  Conditions:")
    assert lines[conditions + 1].split() == ["Type", "Status", "Reason", "Message", "Last",
                                             "Transition", "Time"]  # fmt: skip
    assert lines[conditions + 3].split() == ["Ready", "True", "Reconciled"]
    traffic = lines.index("  Traffic:")
    assert lines[traffic + 2].split() == ["iris-predictor-00002", "true", "90"]
    assert lines[traffic + 3].split() == ["iris-predictor-00001", "prev", "false", "10"]
    revisions = lines.index("Revisions:")
    assert lines[revisions + 2].split() == ["iris-predictor-00002", "iris", "True", "1", "1",
                                            "0", "60m"]  # fmt: skip
    assert lines[-1] == "Events:       <none>"


def test_describe_without_status_or_revisions_says_none() -> None:
    text = printing.describe(catalog.INFERENCE_SERVICE, _isvc("iris"), NOW, [])
    assert "Status:" not in text
    assert "Revisions:  <none>" in text


@pytest.mark.parametrize(
    ("key", "shown"),
    [("storageUri", "Storage URI"), ("uid", "UID"), ("apiVersion", "API Version"),
     ("creationTimestamp", "Creation Timestamp"), ("minReplicas", "Min Replicas"),
     ("URL", "URL"), ("x", "X")],
)  # fmt: skip
def test_describe_labels_fields_as_kubectl(key: str, shown: str) -> None:
    assert printing.label(key) == shown
