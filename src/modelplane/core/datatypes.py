"""Open Inference Protocol datatypes and the numpy dtypes that carry them.

BYTES tensors are numpy object arrays whose elements are `bytes`; every other datatype has a
fixed-width numpy dtype, so its binary wire form is the array's little-endian buffer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.core import errors

_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}

_FROM_NUMPY: dict[np.dtype[Any], str] = {
    dtype: name for name, dtype in _TO_NUMPY.items() if name != "BYTES"
}

DATATYPES: tuple[str, ...] = tuple(_TO_NUMPY)


def to_numpy(datatype: str) -> np.dtype[Any]:
    """The numpy dtype for an OIP datatype name; raise `UnsupportedDatatype` for others."""
    try:
        return _TO_NUMPY[datatype]
    except (KeyError, TypeError):
        raise errors.UnsupportedDatatype(
            f"unknown datatype {datatype!r}; use one of {', '.join(DATATYPES)}"
        ) from None


def from_numpy(dtype: np.dtype[Any]) -> str:
    """The OIP datatype for a numpy dtype; strings, bytes and objects are BYTES."""
    name = _FROM_NUMPY.get(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)
    if name is not None:
        return name
    if dtype.kind in "OSUa":
        return "BYTES"
    raise errors.UnsupportedDatatype(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


#: Integer dtypes narrower than the values JSON and protobuf carry: numpy 2 refuses an
#: out-of-range value for them, numpy 1.x wraps it silently (300 as INT8 is 44), so their
#: range is checked here, the same under both.
_NARROW_INTS = frozenset(
    np.dtype(t) for t in (np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32)
)


def array_of(data: Any, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """`np.asarray(data, dtype)`, raising OverflowError for an integer outside dtype's range."""
    if dtype not in _NARROW_INTS:
        if dtype == np.uint64:
            wide = np.asarray(data)
            if wide.dtype.kind in "iu" and wide.size and wide.min() < 0:
                raise OverflowError(f"{wide.min()} is out of bounds for uint64")
        return np.asarray(data, dtype=dtype)
    wide = np.asarray(data, dtype=np.int64)
    if wide.size:
        info = np.iinfo(dtype)
        low, high = wide.min(), wide.max()
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise OverflowError(f"{bad} is out of bounds for {dtype} ({info.min}..{info.max})")
    return wide.astype(dtype)


def element_size(datatype: str) -> int:
    """Bytes per element on the wire; 0 for BYTES, whose elements carry their own length."""
    dtype = to_numpy(datatype)
    return 0 if datatype == "BYTES" else dtype.itemsize


def element_count(shape: list[int] | tuple[int, ...]) -> int:
    """Elements in a tensor of `shape`; negative dimensions are refused."""
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise errors.InvalidInput(
                f"shape {list(shape)} is invalid: every dimension must be a non-negative integer"
            )
        count *= dim
    return count
