"""The custom runtime: a user's model class, named as `package.module:ClassName`.

As in KServe, the class is built with the model's name, `Class(name)`, and also gets
`model_dir` (as a string, which is what KServe models receive) when its `__init__` names that
parameter, and `predictor_host` and `protocol` (a transformer's, as KServe's examples write
`__init__(self, name, predictor_host, protocol)`) when the server runs with `--predictor_host`
and `__init__` names them. A `modelplane.Model` subclass is used as it is. A class that is not
one but has a `predict` method (a KServe model, or a plain class; a transformer needs none) is
given `Model` as an extra base, so that the hooks it lacks (`load`, `ready`, `preprocess`,
metadata) get the contract's defaults while its own methods, sync or async, keep precedence.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from modelplane.core import errors, importing, model

#: Server options a custom class receives as keyword arguments when its `__init__` names them.
PASSED = ("predictor_host", "protocol")


def create(
    name: str,
    model_dir: Path | None,
    model_class: str,
    options: Mapping[str, Any] | None = None,
) -> model.Model:
    """An unloaded instance of the class `model_class` names."""
    target = importing.import_string(model_class)
    if not isinstance(target, type):
        raise errors.ModelLoadError(
            f"--model-class '{model_class}' names a {type(target).__name__}, not a class; "
            "point it at a modelplane.Model subclass"
        )
    transformer = bool(options and options.get("predictor_host"))
    cls = _model_class(target, model_class, transformer)
    kwargs: dict[str, Any] = {}
    if model_dir is not None and _takes(target, "model_dir"):
        kwargs["model_dir"] = str(model_dir)
    for key in PASSED:
        if options and options.get(key) is not None and _takes(target, key):
            kwargs[key] = options[key]
    try:
        instance = cls(name, **kwargs)
    except errors.ModelplaneError:
        raise
    except Exception as exc:  # the user's constructor may fail in any way; say whose it was
        raise errors.ModelLoadError(
            f"cannot build {model_class}({name!r}"
            f"{''.join(f', {k}=...' for k in kwargs)}): {type(exc).__name__}: {exc}"
        ) from exc
    # A KServe-style __init__ that skips super().__init__ leaves these unset; the server reads them.
    if not hasattr(instance, "name"):
        instance.name = name
    if not hasattr(instance, "version"):
        instance.version = None
    return instance


def _model_class(target: type, model_class: str, transformer: bool) -> type[model.Model]:
    if issubclass(target, model.Model):
        return target
    if not transformer and not callable(getattr(target, "predict", None)):
        raise errors.ModelLoadError(
            f"--model-class '{model_class}' ({target.__name__}) is not a modelplane.Model "
            "subclass and has no predict method; subclass modelplane.Model and implement predict"
        )
    try:
        adapted = type(
            target.__name__,
            (target, model.Model),
            {"__module__": target.__module__, "__qualname__": target.__qualname__},
        )
    except TypeError as exc:  # e.g. a base with an incompatible layout or metaclass
        raise errors.ModelLoadError(
            f"--model-class '{model_class}' cannot be combined with modelplane.Model ({exc}); "
            "subclass modelplane.Model instead"
        ) from exc
    return cast(type[model.Model], adapted)


def _takes(target: type, name: str) -> bool:
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # some builtins and C classes have no signature
        return False
    parameter = parameters.get(name)
    return parameter is not None and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY
