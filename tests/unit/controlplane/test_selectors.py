"""Label and field selectors match as the Kubernetes API server's do."""

from __future__ import annotations

import pytest

from modelplane.controlplane import errors, selectors


def _obj(name: str = "a", namespace: str = "default", **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=x", {"app": "x"}, True),
        ("app==x", {"app": "x"}, True),
        ("app=x", {"app": "y"}, False),
        ("app!=x", {"app": "y"}, True),
        ("app!=x", {}, True),
        ("app in (x, y)", {"app": "y"}, True),
        ("app in (x,y)", {"app": "z"}, False),
        ("app notin (x,y)", {"app": "z"}, True),
        ("app notin (x,y)", {}, True),
        ("app", {"app": ""}, True),
        ("app", {}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("app=x,tier in (a,b),!legacy", {"app": "x", "tier": "b"}, True),
        ("serving.kserve.io/isvc=iris", {"serving.kserve.io/isvc": "iris"}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selectors.matcher(selector, None)(_obj(**labels)) is expected


@pytest.mark.parametrize("selector", ["app=(x", "a b c", "app in x", "!app=x", "=x", "app=x y"])
def test_malformed_label_selector_is_bad_request(selector: str) -> None:
    with pytest.raises(errors.BadRequest):
        selectors.matcher(selector, None)


def test_field_selector_on_name_and_namespace() -> None:
    match = selectors.matcher(None, "metadata.name=a,metadata.namespace!=kube-system")
    assert match(_obj("a"))
    assert not match(_obj("b"))
    assert not match(_obj("a", "kube-system"))


def test_unsupported_field_is_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="not supported"):
        selectors.matcher(None, "spec.nodeName=x")
