"""A trivial modelplane model for the large-tensor rows: it answers the mean of its one input,
as `bench/anchors/kserve_tensor.py` does on KServe.

    PYTHONPATH=. modelplane serve --model-name tensor-mean --model-class bench.models:TensorMean
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane import InferOutput, InferRequest, InferResponse, Model


class TensorMean(Model):
    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers: Any = None) -> InferResponse:
        array = payload.inputs[0].as_numpy()
        output = InferOutput(name="mean", shape=[1], datatype="FP32")
        output.set_data_from_numpy(np.array([array.mean()], dtype=np.float32))
        return InferResponse(payload.id, self.name, [output])
