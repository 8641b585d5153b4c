"""Manifests read as `kubectl apply -f` reads them: files, directories, stdin, multi-doc, List."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modelplane.resources import loading

ISVC = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: gs://m
"""


def names(objs: list[dict[str, object]]) -> list[object]:
    return [o["metadata"]["name"] for o in objs]  # type: ignore[index]


def test_a_file(tmp_path: Path) -> None:
    path = tmp_path / "isvc.yaml"
    path.write_text(ISVC.format(name="a"))
    (obj,) = loading.load_documents(path)
    assert obj["spec"]["predictor"]["model"]["modelFormat"] == {"name": "sklearn"}


def test_multiple_documents_skipping_empty_ones(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("---\n" + ISVC.format(name="a") + "---\n---\n" + ISVC.format(name="b"))
    assert names(loading.load_documents(str(path))) == ["a", "b"]


def test_a_directory_reads_yaml_yml_and_json_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(ISVC.format(name="b"))
    (tmp_path / "a.yaml").write_text(ISVC.format(name="a"))
    obj = {"apiVersion": "v", "kind": "InferenceService", "metadata": {"name": "c"}}
    (tmp_path / "c.json").write_text(json.dumps(obj))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text(ISVC.format(name="d"))
    assert names(loading.load_documents(tmp_path)) == ["a", "b", "c"]


def test_stdin() -> None:
    stdin = io.StringIO(ISVC.format(name="from-stdin"))
    assert names(loading.load_documents("-", stdin)) == ["from-stdin"]


def test_a_list_is_flattened(tmp_path: Path) -> None:
    items = [
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
         "metadata": {"name": n}} for n in ("a", "b")
    ]  # fmt: skip
    listing = {"apiVersion": "v1", "kind": "List", "items": items}
    stdin = io.StringIO(json.dumps(listing))
    assert names(loading.load_documents("-", stdin)) == ["a", "b"]


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: [unclosed\nmetadata: {}\n")
    with pytest.raises(loading.ManifestError, match=r"broken\.yaml \(line \d+, column \d+\)"):
        loading.load_documents(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("- 1\n- 2\n", "expected an object"), ("metadata: {name: x}\n", "apiVersion and kind")],
)
def test_a_document_that_is_not_an_object_is_refused(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(loading.ManifestError, match=fragment) as caught:
        loading.load_documents(path)
    assert "odd.yaml: document 1" in str(caught.value)


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(loading.ManifestError, match="no such file"):
        loading.load_documents(tmp_path / "nope.yaml")
    with pytest.raises(loading.ManifestError, match=r"no \.yaml"):
        loading.load_documents(tmp_path)
