"""JSON parsing and serialisation shared by the V1 and V2 REST formats.

orjson does the work; numpy arrays and scalars serialise natively, and `bytes` become UTF-8
strings, so a model may return numpy values without converting them itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelplane.core import errors

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise errors.InferenceError(
            f"the model returned something JSON cannot carry: {exc}"
        ) from exc


def loads_object(body: bytes | memoryview, what: str) -> dict[str, Any]:
    """Parse a JSON object; anything else (invalid JSON, a list, a number) is invalid input."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.InvalidInput(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
