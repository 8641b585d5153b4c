"""Is an answer right? Each scenario's body is sent once, outside the load generator, and its
answer compared with what the joblib model (or numpy, for the tensor mean) says, so a server is
never scored on fast wrong answers. The peers name their outputs differently (`output-0`,
`predict`, `mean`); only the values are compared.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_DTYPES = {"INT64": "<i8", "INT32": "<i4", "FP32": "<f4", "FP64": "<f8"}


def _json_prefix(body: bytes) -> Any:
    """The JSON document at the start of `body` (a binary-extension answer has bytes after it)."""
    text = body.decode("latin-1")
    return json.JSONDecoder().raw_decode(text)[0]


def _same(values: list[Any], expect: Any) -> str | None:
    if isinstance(expect, float):
        if len(values) != 1 or not math.isclose(float(values[0]), expect, rel_tol=1e-4):
            return f"expected mean {expect:.6f}, got {values[:3]}"
        return None
    got = [int(v) for v in values]
    if got != list(expect):
        return f"expected {list(expect)[:6]}..., got {got[:6]}..."
    return None


def rest(kind: str, status: int, body: bytes, expect: Any) -> str | None:
    """None when a V1 or V2 REST answer is right, else what is wrong with it."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        doc = _json_prefix(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if kind == "v1":
        predictions = doc.get("predictions")
        if not isinstance(predictions, list):
            return f"no predictions in {str(doc)[:200]}"
        return _same(np.asarray(predictions).reshape(-1).tolist(), expect)
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or not outputs or "data" not in outputs[0]:
        return f"no outputs[0].data in {str(doc)[:200]}"
    return _same(np.asarray(outputs[0]["data"]).reshape(-1).tolist(), expect)


def grpc(response: bytes, expect: Any) -> str | None:
    """None when a serialized ModelInferResponse is right."""
    from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb

    message = pb.ModelInferResponse.FromString(response)
    if not message.outputs:
        return "no outputs"
    output = message.outputs[0]
    if message.raw_output_contents:
        dtype = _DTYPES.get(output.datatype)
        if dtype is None:
            return f"unexpected datatype {output.datatype}"
        values = np.frombuffer(message.raw_output_contents[0], dtype=dtype).tolist()
    else:
        contents = output.contents
        values = next(
            (
                list(getattr(contents, f.name))
                for f in contents.DESCRIPTOR.fields
                if len(getattr(contents, f.name))
            ),
            [],
        )
    return _same(values, expect)
