"""KServe's V1 protocol: `{"instances": [...]}` in, `{"predictions": [...]}` out.

The payload reaches the model as the decoded dict, as in KServe. A model may answer with a dict
(sent as is), an array-like (wrapped as `predictions`), or an `InferResponse`, whose outputs are
turned into `predictions` so a V2-style model still answers V1 clients.
"""

from __future__ import annotations

from typing import Any

from modelplane.core import errors
from modelplane.core.inference import InferResponse
from modelplane.protocol import jsoncodec


def decode(body: bytes) -> dict[str, Any]:
    payload = jsoncodec.loads_object(body, "the request body")
    for key in ("instances", "inputs"):
        if key in payload and not isinstance(payload[key], (list, dict)):
            raise errors.InvalidInput(f'"{key}" must be a list, got {type(payload[key]).__name__}')
    return payload


def encode(result: Any) -> bytes:
    if isinstance(result, dict):
        return jsoncodec.dumps(result)
    if isinstance(result, InferResponse):
        return jsoncodec.dumps(_from_infer_response(result))
    return jsoncodec.dumps({"predictions": result})


def _from_infer_response(response: InferResponse) -> dict[str, Any]:
    if len(response.outputs) == 1:
        return {"predictions": response.outputs[0].as_numpy()}
    return {"predictions": {out.name: out.as_numpy() for out in response.outputs}}


def models_list(names: list[str]) -> bytes:
    return jsoncodec.dumps({"models": names})


def model_status(name: str, ready: bool) -> bytes:
    return jsoncodec.dumps({"name": name, "ready": ready})
