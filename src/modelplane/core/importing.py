"""Importing objects named as `"package.module:attribute"` strings.

Used for custom model classes (`--model-class my_pkg.model:MyModel`).
"""

from __future__ import annotations

import importlib
from typing import Any

from modelplane.core import errors


def import_string(path: str) -> Any:
    """Return the object a `module:attr` (or `module.attr`) path names."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise errors.ModelLoadError(
            f"'{path}' is not an import path; write it as 'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise errors.ModelLoadError(
            f"cannot import module '{module_name}' for '{path}': {exc}; "
            "is it installed or on PYTHONPATH?"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise errors.ModelLoadError(
                f"module '{module_name}' has no attribute '{attr}' (from '{path}')"
            ) from exc
    return obj
