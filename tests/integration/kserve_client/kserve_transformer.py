"""A transformer written exactly as KServe's documentation writes one, importing `kserve`.

`__init__(self, name, predictor_host, protocol)`, `preprocess` building the predictor's request
in the protocol the predictor speaks (a V1 dict, or a `kserve.InferRequest` for v2 and
grpc-v2), no `predict` (KServe's default forwards to the predictor), and `postprocess` turning
the predictor's class ids into names. Clients send `{"instances": [{"sepal": [..], "petal":
[..]}]}` over V1, or a V2 tensor of rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve import InferInput, InferRequest, Model

CLASSES = ["setosa", "versicolor", "virginica"]


class IrisTransformer(Model):
    def __init__(self, name: str, predictor_host: str, protocol: str):
        super().__init__(name)
        self.predictor_host = predictor_host
        self.protocol = protocol
        self.ready = True

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, dict):
            rows = [item["sepal"] + item["petal"] for item in payload["instances"]]
        else:
            rows = payload.inputs[0].as_numpy().tolist()
        if self.protocol == "v1":
            return {"instances": rows}
        array = np.asarray(rows, dtype=np.float64)
        tensor = InferInput(name="input-0", shape=list(array.shape), datatype="FP64")
        tensor.set_data_from_numpy(array)
        return InferRequest(model_name=self.name, infer_inputs=[tensor])

    def postprocess(self, response: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(response, dict):
            ids = response["predictions"]
        else:
            ids = response.outputs[0].as_numpy().tolist()
        return {"predictions": [CLASSES[int(i)] for i in ids]}
