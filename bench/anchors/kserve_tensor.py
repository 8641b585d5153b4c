"""A trivial KServe V2 model for the large-tensor rows: it answers the mean of its one input.

The work per request is then almost all protocol: decoding a 1x3x224x224 FP32 tensor (JSON,
binary extension or gRPC raw contents) and encoding a one-element answer.

    python bench/anchors/kserve_tensor.py --model_name tensor-mean --http_port 8080 --grpc_port 8081
"""

from __future__ import annotations

import argparse
from typing import Any

import kserve
import kserve_loopback
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid


class TensorMean(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ready = True

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> Any:
        array = payload.inputs[0].as_numpy()
        output = InferOutput(name="mean", shape=[1], datatype="FP32")
        output.set_data_from_numpy(np.array([array.mean()], dtype=np.float32), binary_data=False)
        return InferResponse(
            model_name=self.name,
            infer_outputs=[output],
            response_id=payload.id or generate_uuid(),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    args, _ = parser.parse_known_args()
    kserve_loopback.serve([TensorMean(args.model_name)])
