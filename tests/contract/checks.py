"""Helpers the contract suites share: V2 requests from named arrays, and answers compared."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.core import datatypes
from modelplane.core.inference import InferInput, InferRequest, InferResponse
from tests.support.tensor_models import Named

Array = np.ndarray[Any, Any]


def v2_request(inputs: Named, *, as_lists: bool = False, **kwargs: Any) -> InferRequest:
    """A request carrying `inputs` as arrays, or as flat JSON-style lists."""
    tensors = [
        InferInput(
            name,
            list(array.shape),
            datatypes.from_numpy(array.dtype),
            array.reshape(-1).tolist() if as_lists else array,
        )
        for name, array in inputs.items()
    ]
    return InferRequest("m", tensors, **kwargs)


def assert_same(actual: Any, expected: Array) -> None:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    if expected.dtype.kind in "iub":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-6)


def assert_answers(response: Any, expected: Named) -> None:
    """`response` has exactly the `expected` outputs, in order, typed as their arrays."""
    assert isinstance(response, InferResponse)
    assert [output.name for output in response.outputs] == list(expected)
    for output in response.outputs:
        assert output.datatype == datatypes.from_numpy(output.as_numpy().dtype)
        assert output.shape == list(output.as_numpy().shape)
        assert_same(output.as_numpy(), expected[output.name])
