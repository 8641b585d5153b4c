"""Events: recorded once per change, counted when repeated, bounded; and which status changes
are worth one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelplane.controlplane import events, isvc_status

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris", "namespace": "default", "uid": "u-1"},
}


def test_an_event_names_its_object_and_a_repeat_is_counted() -> None:
    clock = [T0]
    recorder = events.Recorder(lambda: clock[0])
    recorder.record(ISVC, "Warning", "ModelLoadFailed", "no such model")
    clock[0] = T0 + timedelta(seconds=30)
    recorder.record(ISVC, "Warning", "ModelLoadFailed", "no such model")
    (event,) = recorder.list_events("default")
    assert event["involvedObject"] == {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "name": "iris", "namespace": "default", "uid": "u-1",
    }  # fmt: skip
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "ModelLoadFailed", 2)
    assert event["firstTimestamp"] == "2026-11-29T12:00:00Z"
    assert event["lastTimestamp"] == "2026-11-29T12:00:30Z"
    assert recorder.list_events("other") == []


def test_only_the_newest_events_are_kept() -> None:
    recorder = events.Recorder(lambda: T0, limit=3)
    for n in range(5):
        recorder.record(ISVC, "Normal", "Scaled", f"step {n}")
    assert [e["message"] for e in recorder.list_events(None)] == ["step 2", "step 3", "step 4"]


def test_status_changes_worth_an_event() -> None:
    before = {
        "conditions": [{"type": "Ready", "status": "False"}],
        "components": {"predictor": {"traffic": [{"revisionName": "r1", "percent": 100}]}},
    }
    after = {
        "conditions": [{"type": "Ready", "status": "True"}],
        "components": {"predictor": {"traffic": [
            {"revisionName": "r2", "percent": 10}, {"revisionName": "r1", "percent": 90}]}},
        "modelStatus": {"lastFailureInfo": {"reason": "ModelLoadFailed", "message": "gone"}},
    }  # fmt: skip
    assert isvc_status.changes(before, after) == [
        ("Warning", "ModelLoadFailed", "gone"),
        ("Normal", "TrafficChanged", "traffic: r2 10%, r1 90%"),
        ("Normal", "InferenceServiceReady", "the InferenceService is ready"),
    ]
    assert isvc_status.changes(after, after) == []


def test_revision_changes_worth_an_event() -> None:
    assert isvc_status.revision_changes({"desiredReplicas": 1, "restarts": 0},
                                        {"desiredReplicas": 2, "restarts": 1}) == [
        ("Normal", "Scaled", "desired replicas 1 -> 2"),
        ("Warning", "BackOff", "a replica exited and was restarted (1 restarts in all)"),
    ]  # fmt: skip
    assert isvc_status.revision_changes({}, {"desiredReplicas": 1, "restarts": 0}) == []
