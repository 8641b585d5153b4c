"""Custom models written the way KServe's documentation and examples write them.

The one KServe-specific line is the import: this file says `from modelplane import ...` where a
KServe user writes `from kserve import ...`. `test_kserve_clients.py` imports this same source
with that line switched back to `kserve` and checks that both versions answer alike, so the port
really is "change the import". Each class uses idioms found in KServe's own examples:

- `IrisModel`: `__init__(name)`, `self.ready`, `load`, and a `predict` that answers a V1 dict
  with `{"predictions": ...}` and a V2 `InferRequest` with an `InferResponse`;
- `TaggingIrisModel`: `preprocess` records the protocol in `headers["request-type"]` and
  `postprocess` reads it back, as KServe's image transformer example does;
- `Base64TextModel`: reads BYTES input as raw bytes over gRPC and as base64 text over REST,
  telling them apart with `payload.from_grpc`, as KServe's `custom_model` example does.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelplane import InferOutput, InferRequest, InferResponse, Model


class IrisModel(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.model: Any = None
        self.ready = False

    def load(self) -> bool:
        features, labels = load_iris(return_X_y=True)
        self.model = LogisticRegression(max_iter=1000).fit(features, labels)
        self.ready = True
        return self.ready

    def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        if isinstance(payload, dict):
            rows = np.asarray(payload["instances"], dtype=np.float64)
            return {"predictions": self.model.predict(rows).tolist()}
        rows = payload.inputs[0].as_numpy().astype(np.float64)
        classes = self.model.predict(rows).astype(np.int64)
        probabilities = self.model.predict_proba(rows)
        class_output = InferOutput(name="output-0", shape=list(classes.shape), datatype="INT64")
        class_output.set_data_from_numpy(classes)
        proba_output = InferOutput(
            name="probabilities", shape=list(probabilities.shape), datatype="FP64"
        )
        proba_output.set_data_from_numpy(probabilities)
        return InferResponse(
            model_name=self.name,
            infer_outputs=[class_output, proba_output],
            response_id=payload.id,
        )


class TaggingIrisModel(IrisModel):
    def preprocess(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferRequest:
        assert headers is not None
        headers["request-type"] = "v1" if isinstance(payload, dict) else "v2"
        return payload

    def postprocess(
        self, result: dict[str, Any] | InferResponse, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        assert headers is not None
        if headers.get("request-type") == "v1":
            assert isinstance(result, dict)
            return {"predictions": result["predictions"], "request-type": "v1"}
        return result


class Base64TextModel(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.ready = False

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(
        self, payload: InferRequest, headers: dict[str, str] | None = None
    ) -> InferResponse:
        infer_input = payload.inputs[0]
        if payload.from_grpc:
            raw = infer_input.data[0]
        else:
            raw = base64.b64decode(infer_input.data[0])
        output = InferOutput(name="length", shape=[1], datatype="INT64", data=[len(raw)])
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id)
