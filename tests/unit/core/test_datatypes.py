"""Datatype conversion that refuses what does not fit, the same under numpy 1.x and 2."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core import datatypes


@pytest.mark.parametrize(
    ("data", "dtype"),
    [([300], np.int8), ([-1], np.uint8), ([70000], np.uint16), ([2**31], np.int32),
     ([[1, -129]], np.int8), ([-1], np.uint64)],
)  # fmt: skip
def test_an_integer_outside_its_datatype_is_refused_under_any_numpy(
    data: list[Any], dtype: type[np.generic]
) -> None:
    with pytest.raises(OverflowError, match="out of bounds"):
        datatypes.array_of(data, np.dtype(dtype))


def test_integers_inside_their_range_keep_their_values_and_dtype() -> None:
    array = datatypes.array_of([[-128, 127]], np.dtype(np.int8))
    assert array.dtype == np.int8 and array.tolist() == [[-128, 127]]
    assert datatypes.array_of([2**64 - 1], np.dtype(np.uint64)).tolist() == [2**64 - 1]
    assert datatypes.array_of([], np.dtype(np.int16)).size == 0
