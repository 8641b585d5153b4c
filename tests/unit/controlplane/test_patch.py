"""Merge patch, JSON patch and server-side apply on plain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelplane.controlplane import errors
from modelplane.controlplane.apiserver import patch

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "a"}, "spec": spec}


def test_merge_patch_merges_objects_replaces_lists_and_deletes_nulls() -> None:
    target = _obj(a=1, b={"c": 2, "d": 3}, l=[1, 2])
    result = patch.merge(target, {"spec": {"a": None, "b": {"c": 9}, "l": [3]}})
    assert result["spec"] == {"b": {"c": 9, "d": 3}, "l": [3]}
    assert target["spec"]["a"] == 1  # the input is left alone


def test_json_patch_operations_and_failures() -> None:
    result = patch.json_patch(_obj(a=1), [{"op": "replace", "path": "/spec/a", "value": 2},
                                          {"op": "add", "path": "/spec/b", "value": [1]}])
    assert result["spec"] == {"a": 2, "b": [1]}
    with pytest.raises(errors.Invalid):
        patch.json_patch(_obj(a=1), [{"op": "test", "path": "/spec/a", "value": 5}])
    with pytest.raises(errors.Invalid):
        patch.json_patch(_obj(), [{"op": "remove", "path": "/spec/missing"}])
    with pytest.raises(errors.BadRequest):
        patch.json_patch(_obj(), {"op": "remove"})


def test_fields_round_trip_through_fields_v1() -> None:
    paths = patch.field_paths({**_obj(a=1, b={"c": [1]}), "metadata": {"labels": {"x": "y"}}})
    assert paths == {("spec", "a"), ("spec", "b", "c"), ("metadata", "labels", "x")}
    assert patch.decode_fields(patch.encode_fields(paths)) == paths


def test_apply_creates_then_removes_fields_left_out() -> None:
    first = patch.apply(None, _obj(a=1, b={"c": 2, "d": 3}), manager="me", force=False, now=NOW)
    assert first["spec"] == {"a": 1, "b": {"c": 2, "d": 3}}
    assert first["metadata"]["managedFields"][0]["manager"] == "me"
    first["status"] = {"ready": True}
    first["spec"]["other"] = "set by an update"
    second = patch.apply(first, _obj(a=2, b={"c": 2}), manager="me", force=False, now=NOW)
    assert second["spec"] == {"a": 2, "b": {"c": 2}, "other": "set by an update"}
    assert second["status"] == {"ready": True}
    third = patch.apply(second, _obj(a=2), manager="me", force=False, now=NOW)
    assert third["spec"] == {"a": 2, "other": "set by an update"}


def test_apply_conflicts_with_another_applier_unless_forced() -> None:
    mine = patch.apply(None, _obj(a=1), manager="me", force=False, now=NOW)
    with pytest.raises(errors.Conflict) as caught:
        patch.apply(mine, _obj(a=2), manager="you", force=False, now=NOW)
    assert caught.value.causes[0].field == ".spec.a"
    same_value = patch.apply(mine, _obj(a=1), manager="you", force=False, now=NOW)
    assert {e["manager"] for e in same_value["metadata"]["managedFields"]} == {"me", "you"}
    forced = patch.apply(mine, _obj(a=2), manager="you", force=True, now=NOW)
    assert forced["spec"]["a"] == 2
    assert [e["manager"] for e in forced["metadata"]["managedFields"]] == ["you"]
