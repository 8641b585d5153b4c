"""Reading manifests as `kubectl apply -f` does: a file, a directory, or `-` for stdin.

A directory contributes its `*.yaml`, `*.yml` and `*.json` files in name order (not its
subdirectories, as kubectl without `-R`). A file may hold several YAML documents; a `kind: List`
(what `kubectl get -o yaml` writes) contributes its items; empty documents are skipped. Errors
name the file and, for bad YAML, the line, so a user can find the mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import yaml

from modelplane.core import errors

SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(errors.InvalidInput):
    """A manifest cannot be read: missing, not YAML/JSON, or not a Kubernetes object."""


def load_documents(source: str | Path, stdin: IO[str] | None = None) -> list[dict[str, Any]]:
    """Every object in `source` (a file, a directory, or "-" to read `stdin`), in order."""
    if str(source) == "-":
        if stdin is None:
            raise ManifestError("no standard input to read the manifest from")
        return parse(stdin.read(), "<stdin>")
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise ManifestError(f"{path}: no {', '.join(SUFFIXES)} files in the directory")
        return [obj for file in files for obj in parse(_read(file), str(file))]
    return parse(_read(path), str(path))


def parse(text: str, name: str) -> list[dict[str, Any]]:
    """The objects in one text of YAML (or JSON) documents; `name` is used in errors."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{name}{where}: not valid YAML: {problem}") from None
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        objects += _objects(document, f"{name}: document {index + 1}")
    return objects


def _objects(document: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: expected an object, got {type(document).__name__}")
    if document.get("kind") == "List" or (
        str(document.get("kind", "")).endswith("List") and "items" in document
    ):
        items = document.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(f"{where}: a List's items must be a list")
        return [obj for item in items for obj in _objects(item, f"{where}, item")]
    missing = [key for key in ("apiVersion", "kind") if not document.get(key)]
    if missing:
        raise ManifestError(f"{where}: {' and '.join(missing)} not set; is this a manifest?")
    return [document]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file or directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read: {exc}") from None
