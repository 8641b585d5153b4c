"""One tensor per Open Inference Protocol datatype, with edge values, for codec round trips."""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLES: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "INT8": np.array([[-128, 0, 127], [1, -1, 5]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767], [7, -7, 9]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [3, -3, 4]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [11, -11, 12]], dtype=np.int64),
    "UINT8": np.array([[0, 1, 255], [2, 3, 4]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535], [2, 3, 4]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1], [2, 3, 4]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1], [2, 3, 4]], dtype=np.uint64),
    "FP16": np.array([[0.5, -1.25, 65504.0], [np.inf, 0.0, -0.0]], dtype=np.float16),
    "FP32": np.array([[0.5, -1.25, 3.4e38], [np.nan, 1e-30, -0.0]], dtype=np.float32),
    "FP64": np.array([[0.1, -1e300, 1e-300], [np.nan, np.inf, 2.5]], dtype=np.float64),
    "BYTES": np.array(
        [[b"", b"abc", "h\u00e9llo".encode()], [b"\x00\xff", b"x", b"yz"]], dtype=object
    ),
}
