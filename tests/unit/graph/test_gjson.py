"""The GJSON subset of InferenceGraph conditions, against what gjson itself answers."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.graph import gjson

DOC: dict[str, Any] = {
    "instances": [{"intval": 5, "name": "a"}, {"intval": 12, "name": "b"}],
    "decision_picker": "MODEL1",
    "predictions": ["dog", 0.9],
    "outputs": [{"name": "label", "data": [1, 2]}, {"name": "score", "data": [0.5]}],
    "a.b": {"c": True},
    "flag": False,
    "nothing": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("instances.#(intval>10)", {"intval": 12, "name": "b"}),
        ("instances.#(intval>10).name", "b"),
        ("instances.#(intval>=5)#.name", ["a", "b"]),
        ("instances.#(intval>100)#", []),  # an empty array exists, as in gjson
        ("instances.#", 2),
        ("instances.#.name", ["a", "b"]),
        ("instances.1.intval", 12),
        ('[@this].#(decision_picker=="MODEL1")', DOC),
        ("[@this].#(decision_picker==MODEL1)", DOC),  # a bare word is a string
        ('[@this].#(predictions.0=="dog")', DOC),
        ('outputs.#(name=="label").data.0', 1),
        ('outputs.#(name%"sc*").data', [0.5]),
        ('outputs.#(name!%"sc*").name', "label"),
        ("predictions.#(>0.5)", 0.9),
        ('predictions.#(=="dog")', "dog"),
        ("a\\.b.c", True),
        ("decision_*", "MODEL1"),
        ("flag", False),
        ("nothing", None),
        ("[decision_picker,flag,absent]", ["MODEL1", False]),
        ("@this.decision_picker", "MODEL1"),
        ("instances.#(name)", {"intval": 5, "name": "a"}),
    ],
)
def test_selects_what_gjson_selects(path: str, expected: Any) -> None:
    assert gjson.get(DOC, path) == expected
    assert gjson.exists(DOC, path)


@pytest.mark.parametrize(
    "path",
    [
        "instances.#(intval>100)",
        '[@this].#(decision_picker=="MODEL2")',
        "absent",
        "instances.7",
        "decision_picker.x",
        "predictions.#(>1)",
        'instances.#(intval=="5")',  # a string is never equal to a number
        "instances.#(missing)",
        "flag.#",
    ],
)
def test_does_not_exist(path: str) -> None:
    assert not gjson.exists(DOC, path)


@pytest.mark.parametrize("path", ["", "a.#(b==1", 'a.#(b=="x)', "a)", "#(==)"])
def test_malformed_conditions_are_refused_up_front(path: str) -> None:
    with pytest.raises(gjson.ConditionError):
        gjson.check(path)
